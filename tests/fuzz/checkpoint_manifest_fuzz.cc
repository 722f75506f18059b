// Fuzzes the checkpoint manifest readers (ps/checkpoint.h, scheduler/checkpointer.h). The input
// is read as it is (a manifest whose checksum line must hold), then sealed with a valid checksum
// line, so that the manifest's contents reach the checks behind the checksum: as the job
// manifest of a checkpoint folder (JobCheckpointer::Verify), and as the ps manifest and the
// shard manifest of a ps folder (LoadCheckpointChain). Whatever the manifests list must stay
// inside their folder; nothing crashes or hangs.
#include <filesystem>

#include "core/checksum.h"
#include "ps/checkpoint.h"
#include "scheduler/checkpointer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::string Sealed(std::string_view body) {
  std::string text(body);
  if (!text.empty() && text.back() != '\n') text += '\n';
  char line[32];
  std::snprintf(line, sizeof(line), "# crc32 %08x\n", moerec::Crc32(text));
  return text + line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  namespace fs = std::filesystem;
  const std::string_view input = fuzz::AsView(data, size);
  const std::string raw = fuzz::WriteInput("MANIFEST", input);
  JobCheckpointManifest job;
  CheckpointManifest ps;
  ShardManifest shard;
  (void)ReadManifest(raw, &job);
  (void)ReadManifest(raw, &ps);
  (void)ReadManifest(raw, &shard);

  const std::string sealed = Sealed(input);
  const fs::path root = fs::path(fuzz::Scratch().path()) / "step-0000000001";
  std::error_code ec;
  fs::create_directories(root / "ps" / "shard-00000", ec);
  fuzz::WriteInput("step-0000000001/MANIFEST", sealed);
  fuzz::WriteInput("step-0000000001/ps/MANIFEST", sealed);
  fuzz::WriteInput("step-0000000001/ps/shard-00000/MANIFEST", sealed);
  (void)JobCheckpointer::Verify(root.string(), &job);
  (void)LoadCheckpointChain((root / "ps").string());
  return 0;
}
