#include "ps/internal/rocks.h"

#include <glog/logging.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/file_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

// RocksDB's info log through glog instead of a LOG file in the database folder: warnings and
// errors (a failed flush or compaction names its file) reach the server's log, and a disk that
// fails the database's writes cannot also fail the log's (Debian's librocksdb asserts when its
// own LOG file writer is used again after a failed write, which would end the server before
// the failure comes back as a Status naming the file).
class GlogLogger : public rocksdb::Logger {
 public:
  GlogLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    // Every RocksDB checkpoint's own bookkeeping of file deletions is logged at WARN: not news.
    if (std::strstr(line, "File Deletions ") != nullptr) return;
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      LOG(ERROR) << "RocksDB: " << line;
    } else {
      LOG(WARNING) << "RocksDB: " << line;
    }
  }
};

// Keeps read-only opens of checkpoints from creating LOG files in them.
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {}
};

StatusOr<rocksdb::CompressionType> Compression(RocksDbConfig::Compression c) {
  rocksdb::CompressionType type = rocksdb::kNoCompression;
  switch (c) {
    case RocksDbConfig::NONE:
      return rocksdb::kNoCompression;
    case RocksDbConfig::LZ4:
      type = rocksdb::kLZ4Compression;
      break;
    case RocksDbConfig::ZSTD:
      type = rocksdb::kZSTD;
      break;
    case RocksDbConfig::SNAPPY:
      type = rocksdb::kSnappyCompression;
      break;
  }
  const std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  if (std::find(supported.begin(), supported.end(), type) == supported.end()) {
    return InvalidArgument("ps.rocksdb.compression: " + RocksDbConfig::Compression_Name(c) +
                           " is not built into this librocksdb");
  }
  return type;
}

}  // namespace

Status FromRocks(const rocksdb::Status& s, const std::string& what, const std::string& where) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Corruption(what + ": " + s.ToString());
  if (s.IsNoSpace() || s.ToString().find("No space left on device") != std::string::npos) {
    std::string free_text;
    if (!where.empty()) {
      const int64_t free_bytes = FreeBytes(where);
      free_text = " (" + (free_bytes < 0 ? std::string("unknown") : std::to_string(free_bytes)) +
                  " bytes free in " + where + ")";
    }
    return ResourceExhausted(what + ": " + s.ToString() + free_text);
  }
  return IoError(what + ": " + s.ToString());
}

StatusOr<rocksdb::Options> MakeRocksOptions(const RocksDbConfig& config) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.error_if_exists = false;
  ASSIGN_OR_RETURN(o.compression, Compression(config.compression()));
  o.bottommost_compression = o.compression;
  o.write_buffer_size = static_cast<size_t>(config.write_buffer_mb()) << 20;
  o.max_background_jobs = config.max_background_jobs();
  o.level_compaction_dynamic_level_bytes = true;
  o.optimize_filters_for_hits = config.optimize_filters_for_hits();
  o.info_log = std::make_shared<GlogLogger>();  // no LOG file in the database folder
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.max_manifest_file_size = 64 << 20;
  o.allow_mmap_reads = config.mmap_reads();

  rocksdb::BlockBasedTableOptions t;
  if (config.block_cache_mb() > 0) {
    t.block_cache = rocksdb::NewLRUCache(static_cast<size_t>(config.block_cache_mb()) << 20);
  } else {
    t.no_block_cache = true;
  }
  t.block_size = static_cast<size_t>(config.block_size_kb()) << 10;
  if (config.bloom_bits_per_key() > 0) {
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(config.bloom_bits_per_key()));
    t.whole_key_filtering = true;
  }
  if (config.block_hash_index()) {
    t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
    t.data_block_hash_table_util_ratio = 0.75;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::ReadOptions MakeReadOptions(const RocksDbConfig& config) {
  rocksdb::ReadOptions r;
  r.verify_checksums = config.verify_checksums();
  r.fill_cache = config.fill_block_cache();
  return r;
}

rocksdb::WriteOptions MakeWriteOptions() {
  rocksdb::WriteOptions w;
  w.disableWAL = true;
  return w;
}

StatusOr<std::unique_ptr<rocksdb::DB>> OpenFreshDb(const std::string& path,
                                                   const rocksdb::Options& options) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError("remove " + path + ": " + ec.message());
  fs::create_directories(path, ec);
  if (ec) return IoError("create " + path + ": " + ec.message());
  return OpenExistingDb(path, options);
}

StatusOr<std::unique_ptr<rocksdb::DB>> OpenExistingDb(const std::string& path,
                                                      const rocksdb::Options& options) {
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, path, &db), "open RocksDB " + path, path));
  return std::unique_ptr<rocksdb::DB>(db);
}

StatusOr<std::unique_ptr<rocksdb::DB>> OpenCheckpointDb(const std::string& path) {
  rocksdb::Options o;
  o.create_if_missing = false;
  o.info_log = std::make_shared<SilentLogger>();
  o.max_open_files = 256;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::OpenForReadOnly(o, path, &db), "open checkpoint database " + path));
  return std::unique_ptr<rocksdb::DB>(db);
}

Status CreateRocksCheckpoint(rocksdb::DB* db, const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db, &raw), "RocksDB checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                   "RocksDB checkpoint into " + dir, dir);
}

Status LinkDbFiles(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return IoError("create " + to + ": " + ec.message());
  for (const fs::directory_entry& e : fs::directory_iterator(from, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    const fs::path target = fs::path(to) / name;
    const bool immutable = name.size() > 4 && name.substr(name.size() - 4) == ".sst";
    if (immutable) {
      fs::create_hard_link(e.path(), target, ec);
      if (!ec) continue;
      ec.clear();  // another file system: copy instead
    }
    fs::copy_file(e.path(), target, fs::copy_options::overwrite_existing, ec);
    if (ec)
      return IoError("copy " + e.path().string() + " to " + target.string() + ": " + ec.message());
  }
  if (ec) return IoError("list " + from + ": " + ec.message());
  return Status::OK();
}

}  // namespace moerec
