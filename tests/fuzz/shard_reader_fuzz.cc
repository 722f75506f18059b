// Fuzzes the shard reader (data/shard.h): any file opens with a Status and every block of one
// that opens decodes or fails with a Status; nothing crashes, reads out of bounds or allocates
// without bound.
#include "data/batch.h"
#include "data/shard.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string path = fuzz::WriteInput("input.mrs", fuzz::AsView(data, size));
  auto reader = ShardReader::Open(path);
  if (!reader.ok()) return 0;
  Batch batch;
  for (int i = 0; i < (*reader)->num_blocks(); ++i) {
    // A decoded block is read through once more (Validate touches every column), so that
    // ASan sees any column shorter than its sizes claim.
    if ((*reader)->ReadBlock(i, &batch).ok()) {
      (void)batch.Validate((*reader)->header().num_domains());
    }
  }
  return 0;
}
