// Fuzzes the reader of exported embedding files (serving/embedding_file.h): any file is read
// with a Status; a file that reads back is well formed (what WriteEmbeddingFile would accept).
#include <cstdlib>

#include "serving/embedding_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string path = fuzz::WriteInput("input.emb", fuzz::AsView(data, size));
  StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
  if (!m.ok()) return 0;
  if (m->dim < 1 || m->dim > kMaxEmbeddingDim || m->scenario.size() != m->ids.size() ||
      m->values.size() != m->ids.size() * static_cast<size_t>(m->dim)) {
    std::abort();  // the reader accepted a matrix whose sizes disagree
  }
  // What the reader accepts, the writer writes back.
  if (!WriteEmbeddingFile(fuzz::Scratch().file("again.emb"), *m).ok()) std::abort();
  return 0;
}
