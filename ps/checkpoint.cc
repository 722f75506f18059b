#include "ps/checkpoint.h"

#include <google/protobuf/text_format.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "core/checksum.h"
#include "core/file_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

constexpr char kCrcLine[] = "# crc32 ";

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

Status VerifyFile(const std::string& dir, const CheckpointFile& f, const std::string& listed_in) {
  if (!IsSafeCheckpointFileName(f.name())) {
    return Corruption(listed_in + " lists an unsafe file name \"" + f.name() + "\"");
  }
  const std::string path = dir + "/" + f.name();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Corruption(path + ": missing (listed in " + listed_in + "); partial checkpoint");
  }
  uint64_t size = 0;
  uint32_t crc = 0;
  RETURN_IF_ERROR(ChecksumFile(path, &size, &crc));
  if (size != f.size()) {
    return Corruption(path + ": " + std::to_string(size) + " bytes, " + listed_in + " says " +
                      std::to_string(f.size()) + " (truncated or partly copied)");
  }
  if (crc != f.crc32()) {
    return Corruption(path + ": crc32 " + Hex(crc) + " does not match " + Hex(f.crc32()) + " in " +
                      listed_in + " (corrupt file)");
  }
  return Status::OK();
}

// Reads <dir>/MANIFEST and every shard manifest, checking that they agree; with `verify_files`
// also every listed data file.
StatusOr<CheckpointLevel> LoadLevel(const std::string& dir) {
  CheckpointLevel level;
  level.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("checkpoint " + dir + " does not exist");
  const std::string job_path = dir + "/" + kManifestName;
  Status s = ReadManifest(job_path, &level.manifest);
  if (s.code() == StatusCode::kNotFound) {
    return Corruption(job_path +
                      ": missing; partial checkpoint (the job manifest is written "
                      "last, after every server finished)");
  }
  RETURN_IF_ERROR(s);
  const CheckpointManifest& job = level.manifest;
  if (job.format_version() != kCheckpointFormatVersion) {
    return InvalidArgument(job_path + ": format version " + std::to_string(job.format_version()) +
                           ", this build reads " + std::to_string(kCheckpointFormatVersion));
  }
  if (job.num_shards() < 1 || job.shard_manifests_size() != job.num_shards()) {
    return Corruption(job_path + ": num_shards " + std::to_string(job.num_shards()) + " with " +
                      std::to_string(job.shard_manifests_size()) + " shard manifests listed");
  }
  for (int i = 0; i < job.num_shards(); ++i) {
    const CheckpointFile& f = job.shard_manifests(i);
    const std::string expected = ShardDirName(i) + "/" + kManifestName;
    if (f.name() != expected) {
      return Corruption(job_path + ": shard manifest " + std::to_string(i) + " is \"" + f.name() +
                        "\", expected \"" + expected + "\"");
    }
    RETURN_IF_ERROR(VerifyFile(dir, f, job_path));
    CheckpointShard shard;
    shard.dir = dir + "/" + ShardDirName(i);
    const std::string path = dir + "/" + expected;
    RETURN_IF_ERROR(ReadManifest(path, &shard.manifest));
    const ShardManifest& m = shard.manifest;
    if (m.format_version() != kCheckpointFormatVersion || m.shard() != i ||
        m.num_shards() != job.num_shards() || m.step() != job.step() || m.kind() != job.kind() ||
        m.base() != job.base()) {
      return Corruption(path + ": does not match the job manifest (shard " +
                        std::to_string(m.shard()) + " of " + std::to_string(m.num_shards()) +
                        ", step " + std::to_string(m.step()) + ")");
    }
    for (const CheckpointFile& file : m.files()) {
      RETURN_IF_ERROR(VerifyFile(shard.dir, file, path));
    }
    level.shards.push_back(std::move(shard));
  }
  return level;
}

}  // namespace

std::string ShardDirName(int shard) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "shard-%05d", shard);
  return buf;
}

bool IsSafeCheckpointFileName(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  for (const auto& part : fs::path(name)) {
    if (part == "..") return false;
  }
  return true;
}

Status WriteManifest(const std::string& path, const google::protobuf::Message& manifest) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(manifest, &text)) {
    return Internal("cannot print manifest " + path);
  }
  text += kCrcLine + Hex(Crc32(text)) + "\n";
  return WriteFileAtomically(path, text);
}

Status ReadManifest(const std::string& path, google::protobuf::Message* manifest) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path + ": missing");
  std::string text;
  RETURN_IF_ERROR(ReadFileToString(path, &text));
  const size_t at = text.rfind(kCrcLine);
  const size_t line = sizeof(kCrcLine) - 1;
  if (at == std::string::npos || (at != 0 && text[at - 1] != '\n') ||
      text.size() != at + line + 9 || text.back() != '\n') {
    return Corruption(path + ": no checksum line at the end (truncated or not a manifest)");
  }
  const std::string hex = text.substr(at + line, 8);
  char* end = nullptr;
  const unsigned long want = std::strtoul(hex.c_str(), &end, 16);
  const uint32_t got = Crc32(text.data(), at);
  if (end != hex.c_str() + 8 || want != got) {
    return Corruption(path + ": checksum " + Hex(got) + " does not match its line \"" + hex +
                      "\" (damaged manifest)");
  }
  manifest->Clear();
  if (!google::protobuf::TextFormat::ParseFromString(text.substr(0, at), manifest)) {
    return Corruption(path + ": unreadable manifest");
  }
  return Status::OK();
}

Status FinishCheckpoint(const std::string& dir) {
  CheckpointManifest job;
  std::vector<ShardManifest> shards;
  for (int i = 0; i == 0 || i < job.num_shards(); ++i) {
    const std::string name = ShardDirName(i) + "/" + kManifestName;
    const std::string path = dir + "/" + name;
    ShardManifest m;
    Status s = ReadManifest(path, &m);
    if (s.code() == StatusCode::kNotFound) {
      return FailedPrecondition("checkpoint " + dir + ": server " + std::to_string(i) +
                                " has not written its part (" + path + " missing)");
    }
    RETURN_IF_ERROR(s);
    if (i == 0) {
      job.set_format_version(kCheckpointFormatVersion);
      job.set_num_shards(m.num_shards());
      job.set_step(m.step());
      job.set_kind(m.kind());
      if (m.has_base()) job.set_base(m.base());
      if (m.has_base_step()) job.set_base_step(m.base_step());
    }
    if (m.shard() != i || m.num_shards() != job.num_shards() || m.step() != job.step() ||
        m.kind() != job.kind() || m.base() != job.base()) {
      return FailedPrecondition(path + ": shard " + std::to_string(m.shard()) + " of " +
                                std::to_string(m.num_shards()) + ", step " +
                                std::to_string(m.step()) + ", " + CheckpointKind_Name(m.kind()) +
                                " base \"" + m.base() + "\" disagrees with shard 0");
    }
    CheckpointFile* f = job.add_shard_manifests();
    f->set_name(name);
    uint64_t size = 0;
    uint32_t crc = 0;
    RETURN_IF_ERROR(ChecksumFile(path, &size, &crc));
    f->set_size(size);
    f->set_crc32(crc);
  }
  return WriteManifest(dir + "/" + kManifestName, job);
}

StatusOr<std::vector<CheckpointLevel>> LoadCheckpointChain(const std::string& dir) {
  std::vector<CheckpointLevel> chain;
  std::set<std::string> seen;
  std::string current = fs::absolute(dir).lexically_normal().string();
  while (!current.empty() && current.back() == '/' && current.size() > 1) current.pop_back();
  for (;;) {
    if (!seen.insert(current).second) {
      return Corruption("checkpoint " + dir + ": its chain of bases loops at " + current);
    }
    ASSIGN_OR_RETURN(CheckpointLevel level, LoadLevel(current));
    const bool full = level.manifest.kind() == CHECKPOINT_FULL;
    std::string base;
    if (!full) {
      base = (fs::path(current) / level.manifest.base()).lexically_normal().string();
      while (base.size() > 1 && base.back() == '/') base.pop_back();
      std::error_code ec;
      if (!fs::is_directory(base, ec)) {
        return NotFound("checkpoint " + current + " is incremental on " + base +
                        ", which does not exist");
      }
    }
    chain.push_back(std::move(level));
    if (full) break;
    current = base;
  }
  std::vector<CheckpointLevel> ordered(std::make_move_iterator(chain.rbegin()),
                                       std::make_move_iterator(chain.rend()));
  for (size_t i = 1; i < ordered.size(); ++i) {
    const CheckpointManifest& m = ordered[i].manifest;
    if (m.base_step() != ordered[i - 1].manifest.step()) {
      return Corruption(ordered[i].dir + ": base step " + std::to_string(m.base_step()) +
                        " but its base " + ordered[i - 1].dir + " is step " +
                        std::to_string(ordered[i - 1].manifest.step()) + " (base replaced?)");
    }
  }
  return ordered;
}

Status VerifyCheckpoint(const std::string& dir) { return LoadCheckpointChain(dir).status(); }

}  // namespace moerec
