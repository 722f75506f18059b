// Fuzzes the row files of checkpoints (rows.dat: memory-only servers' full checkpoints and every
// increment; ps/checkpoint.h) through RowStore::Restore. The input replaces rows.dat of a whole
// one-shard checkpoint whose manifests are rewritten with the input's size and crc32, so that
// the bytes reach the row file reader and the restore behind it (a damaged file must be refused
// with a Status and leave the store as it was, never crash).
#include <filesystem>

#include "core/checksum.h"
#include "core/file_util.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/row_fixture.h"

namespace {

namespace fs = std::filesystem;

// A whole checkpoint of the fixture's rows in <scratch>/template.
const std::string& Template() {
  static const std::string* dir = [] {
    auto* d = new std::string(moerec::fuzz::Scratch().file("template"));
    auto store = moerec::fuzz::OpenRows();
    moerec::fuzz::TrainRows(store.get(), 0, 3);
    moerec::fuzz::CheckpointRows(store.get(), *d, 3, false);
    return d;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string_view input = fuzz::AsView(data, size);
  const std::string dir = fuzz::Scratch().file("ckpt");
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::copy(Template(), dir, fs::copy_options::recursive, ec);
  if (ec) std::abort();
  const std::string shard = dir + "/" + ShardDirName(0);
  fuzz::WriteInput("ckpt/" + ShardDirName(0) + "/rows.dat", input);
  ShardManifest m;
  if (!ReadManifest(shard + "/" + kManifestName, &m).ok() || m.files_size() != 1) std::abort();
  m.mutable_files(0)->set_size(size);
  m.mutable_files(0)->set_crc32(Crc32(input));
  if (!WriteManifest(shard + "/" + kManifestName, m).ok()) std::abort();
  CheckpointManifest job;
  if (!ReadManifest(dir + "/" + kManifestName, &job).ok()) std::abort();
  uint64_t bytes = 0;
  uint32_t crc = 0;
  if (!ChecksumFile(shard + "/" + kManifestName, &bytes, &crc).ok()) std::abort();
  job.mutable_shard_manifests(0)->set_size(bytes);
  job.mutable_shard_manifests(0)->set_crc32(crc);
  if (!WriteManifest(dir + "/" + kManifestName, job).ok()) std::abort();

  static RowStore* store = fuzz::OpenRows().release();
  (void)store->Restore(dir);
  return 0;
}
