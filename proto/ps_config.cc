#include "proto/ps_config.h"

#include <sstream>

namespace moerec {
namespace {

template <typename T>
std::string Str(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// lo <= value <= hi.
template <typename T>
Status CheckRange(const std::string& name, const std::string& field, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return Status::OK();
  return InvalidArgument(name + ": " + field + ": must be in [" + Str(lo) + ", " + Str(hi) +
                         "], got " + Str(value));
}

template <typename T>
Status CheckAtLeast(const std::string& name, const std::string& field, T value, T lo) {
  if (value >= lo) return Status::OK();
  return InvalidArgument(name + ": " + field + ": must be >= " + Str(lo) + ", got " + Str(value));
}

Status ValidateRocksDb(const RocksDbConfig& r, const std::string& name) {
  const std::string p = "ps.rocksdb.";
  RETURN_IF_ERROR(CheckRange(name, p + "bloom_bits_per_key", r.bloom_bits_per_key(), 0, 64));
  RETURN_IF_ERROR(CheckAtLeast(name, p + "block_cache_mb", r.block_cache_mb(), int64_t{0}));
  RETURN_IF_ERROR(CheckRange(name, p + "block_size_kb", r.block_size_kb(), 1, 1024));
  RETURN_IF_ERROR(CheckAtLeast(name, p + "write_buffer_mb", r.write_buffer_mb(), int64_t{1}));
  RETURN_IF_ERROR(CheckAtLeast(name, p + "max_background_jobs", r.max_background_jobs(), 1));
  return Status::OK();
}

}  // namespace

Status ValidateTableStorage(const TableStorageConfig& s, const std::string& field,
                            const std::string& name) {
  const std::string p = field + ".";
  RETURN_IF_ERROR(CheckRange(name, p + "admission_min_count", s.admission_min_count(), 1, 255));
  RETURN_IF_ERROR(CheckRange(name, p + "admission_filter_counters", s.admission_filter_counters(),
                             int64_t{1024}, int64_t{1} << 34));
  RETURN_IF_ERROR(CheckAtLeast(name, p + "evict_unseen_steps", s.evict_unseen_steps(), int64_t{0}));
  RETURN_IF_ERROR(CheckRange(name, p + "evict_min_frequency", s.evict_min_frequency(), int64_t{0},
                             int64_t{UINT32_MAX}));
  return Status::OK();
}

Status ValidatePsConfig(const JobConfig& config, const std::string& name) {
  const ServerConfig& ps = config.ps();
  RETURN_IF_ERROR(CheckAtLeast(name, "ps.cache_mb", ps.cache_mb(), int64_t{1}));
  RETURN_IF_ERROR(CheckAtLeast(name, "ps.evict_every_steps", ps.evict_every_steps(), int64_t{0}));
  RETURN_IF_ERROR(ValidateRocksDb(ps.rocksdb(), name));
  RETURN_IF_ERROR(ValidateTableStorage(config.embedding().storage(), "embedding.storage", name));
  for (int i = 0; i < config.tables_size(); ++i) {
    RETURN_IF_ERROR(
        ValidateTableStorage(config.tables(i).storage(), "tables[" + Str(i) + "].storage", name));
  }
  return Status::OK();
}

}  // namespace moerec
