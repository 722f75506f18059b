#include "bench/ps_bench.h"

#include <google/protobuf/text_format.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <unordered_map>
#include <vector>

#include "core/key_index.h"
#include "core/random.h"
#include "embedding/table_spec.h"
#include "proto/ps_config.h"
#include "ps/row_codec.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;
using Batch = std::vector<uint64_t>;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Print(const char* name, double value) { std::printf("%s=%.4g\n", name, value); }
void PrintInt(const char* name, int64_t value) {
  std::printf("%s=%lld\n", name, static_cast<long long>(value));
}

uint64_t RowId(uint64_t rank) { return Mix64(rank); }

// `batch` draws, deduplicated (servers get unique keys), in random order.
template <typename Draw>
Batch MakeBatch(int batch, Rng* rng, Draw&& draw) {
  Batch b(batch);
  for (uint64_t& k : b) k = RowId(draw());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  Shuffle(&b, rng);
  return b;
}

// Ranks 0..n-1 with P(r) proportional to (r + 1)^-s.
class ZipfSampler {
 public:
  ZipfSampler(int64_t n, double s) : cdf_(n) {
    double sum = 0;
    for (int64_t r = 0; r < n; ++r) {
      sum += std::pow(static_cast<double>(r + 1), -s);
      cdf_[r] = sum;
    }
  }
  uint64_t operator()(Rng* rng) const {
    const double u = rng->Uniform() * cdf_.back();
    return static_cast<uint64_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// Time spent in calls and keys served, per contender of an interleaved measurement.
struct Meter {
  double seconds = 0;
  int64_t keys = 0;
  double rate() const { return static_cast<double>(keys) / seconds; }
  template <typename Fn>
  void Time(const Batch& b, Fn&& fn) {
    const Clock::time_point t0 = Clock::now();
    fn(b);
    seconds += Since(t0);
    keys += static_cast<int64_t>(b.size());
  }
};

TableSpec BenchSpec(int dim) {
  TableSpec spec;
  spec.name = "bench";
  spec.dim = dim;
  spec.optimizer.set_type(RowOptimizerConfig::ADAGRAD);
  spec.optimizer.set_learning_rate(0.05f);
  spec.seed = 7;
  spec.name_hash = StableHash(spec.name);
  return spec;
}

Status Check(const Status& s, const char* what) {
  return s.ok() ? s : s.WithContext(std::string("bench ps: ") + what);
}

// Creates every row of the table in `store` by training pulls in id order; rows go to *copy
// (rows, dim) when given. Returns keys/s.
StatusOr<double> LoadRows(RowStore* store, const PsBenchOptions& o, std::vector<float>* copy) {
  Batch keys(o.batch);
  std::vector<float> out(static_cast<size_t>(o.batch) * o.dim);
  const Clock::time_point t0 = Clock::now();
  for (int64_t first = 0; first < o.rows; first += o.batch) {
    const int64_t n = std::min<int64_t>(o.batch, o.rows - first);
    for (int64_t i = 0; i < n; ++i) keys[i] = RowId(first + i);
    float* dst = copy != nullptr ? copy->data() + first * o.dim : out.data();
    RETURN_IF_ERROR(Check(store->Pull(0, keys.data(), n, 0, true, dst), "load"));
  }
  return static_cast<double>(o.rows) / Since(t0);
}

struct Figures {
  double hashmap = 0, keyindex = 0, hot = 0, push = 0, zipf_resident = 0;
  double multiget = 0, cold = 0, cold_miss = 0, zipf_budget = 0, zipf_hit = 0;
  double checkpoint_vs_copy = 0;
};

// Every contender takes each batch in turn, so the machine's background load falls on all alike;
// stops once each has run `seconds`, or when next() returns an empty batch.
template <typename Next>
void Interleave(double seconds, Next&& next, std::vector<std::function<void(const Batch&)>> fns,
                std::vector<Meter>* meters) {
  meters->assign(fns.size(), Meter());
  for (int i = 0;; ++i) {
    bool done = i >= 4;
    for (const Meter& m : *meters) done = done && m.seconds >= seconds;
    if (done) return;
    const Batch b = next(i);
    if (b.empty()) return;  // out of batches
    for (size_t c = 0; c < fns.size(); ++c) (*meters)[c].Time(b, fns[c]);
  }
}

// The store holding every row, the in-memory references and a RocksDB-backed store with the
// small cache.
class Bench {
 public:
  Bench(const PsBenchOptions& o, const ZipfSampler& zipf)
      : o_(o), zipf_(zipf), out_(static_cast<size_t>(o.batch) * o.dim) {}

  Status Resident(Figures* f);
  Status Budgeted(int64_t cache_bytes, int64_t row_cost, const std::string& dir, Figures* f);

 private:
  void Pull(RowStore* store, const Batch& b) {
    Status s = store->Pull(0, b.data(), static_cast<int64_t>(b.size()), step_++, true, out_.data());
    if (status_.ok() && !s.ok()) status_ = s;
  }

  const PsBenchOptions& o_;
  const ZipfSampler& zipf_;
  std::unique_ptr<RowStore> resident_;
  std::vector<float> out_;
  int64_t step_ = 1;
  Status status_;
};

Status Bench::Resident(Figures* f) {
  resident_ = RowStore::Open({BenchSpec(o_.dim)}).value();
  std::vector<float> rows(static_cast<size_t>(o_.rows) * o_.dim);
  ASSIGN_OR_RETURN(const double create_rate, LoadRows(resident_.get(), o_, &rows));
  Print("create_keys_per_sec", create_rate);

  Rng rng(o_.seed);
  std::vector<Batch> uniform(32);
  for (Batch& b : uniform) {
    b = MakeBatch(o_.batch, &rng, [&] { return rng.Below(static_cast<uint64_t>(o_.rows)); });
  }
  const size_t row_bytes = static_cast<size_t>(o_.dim) * sizeof(float);
  std::unordered_map<uint64_t, uint32_t> map;
  map.reserve(static_cast<size_t>(o_.rows));
  KeyIndex index(static_cast<size_t>(o_.rows));
  for (int64_t r = 0; r < o_.rows; ++r) {
    map.emplace(RowId(r), static_cast<uint32_t>(r));
    index.Insert(RowId(r), static_cast<uint32_t>(r));
  }
  float* out = out_.data();
  std::vector<Meter> m;
  Interleave(
      o_.seconds, [&](int i) { return uniform[i % uniform.size()]; },
      {[&](const Batch& b) {
         for (size_t i = 0; i < b.size(); ++i) {
           std::memcpy(out + i * o_.dim, rows.data() + size_t{map.find(b[i])->second} * o_.dim,
                       row_bytes);
         }
       },
       [&](const Batch& b) {
         for (size_t i = 0; i < b.size(); ++i) {
           std::memcpy(out + i * o_.dim, rows.data() + size_t{index.Find(b[i])} * o_.dim,
                       row_bytes);
         }
       },
       [&](const Batch& b) { Pull(resident_.get(), b); }},
      &m);
  f->hashmap = m[0].rate();
  f->keyindex = m[1].rate();
  f->hot = m[2].rate();
  Print("hashmap_gather_keys_per_sec", f->hashmap);
  Print("keyindex_gather_keys_per_sec", f->keyindex);
  Print("hot_pull_keys_per_sec", f->hot);

  std::vector<float> grads(static_cast<size_t>(o_.batch) * o_.dim);
  for (float& g : grads) g = static_cast<float>(rng.Normal() * 0.01);
  Interleave(
      o_.seconds, [&](int i) { return uniform[i % uniform.size()]; }, {[&](const Batch& b) {
        Status s =
            resident_->Push(0, b.data(), static_cast<int64_t>(b.size()), step_++, grads.data());
        if (status_.ok() && !s.ok()) status_ = s;
      }},
      &m);
  f->push = m[0].rate();
  Print("push_keys_per_sec", f->push);
  return Check(status_, "resident pulls and pushes");
}

// Cold pulls against raw MultiGet, then Zipf pulls through the small cache against the resident
// store.
Status Bench::Budgeted(int64_t cache_bytes, int64_t row_cost, const std::string& dir, Figures* f) {
  RowStoreOptions options;
  options.db_path = dir + "/db";
  options.cache_bytes = cache_bytes;
  if (!google::protobuf::TextFormat::ParseFromString(o_.rocksdb, &options.rocksdb)) {
    return InvalidArgument("bench ps: --rocksdb is not RocksDbConfig text: " + o_.rocksdb);
  }
  JobConfig job;
  *job.mutable_ps()->mutable_rocksdb() = options.rocksdb;
  RETURN_IF_ERROR(ValidatePsConfig(job, "bench ps --rocksdb"));
  ASSIGN_OR_RETURN(auto store, RowStore::Open({BenchSpec(o_.dim)}, options));
  ASSIGN_OR_RETURN(const double load_rate, LoadRows(store.get(), o_, nullptr));
  Print("rocksdb_load_keys_per_sec", load_rate);
  Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(Check(store->Flush(/*drop_cache=*/true), "flush"));
  RETURN_IF_ERROR(Check(store->CompactStorage(), "compaction"));
  Print("rocksdb_compact_seconds", Since(t0));
  uint64_t db_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(options.db_path)) {
    if (e.is_regular_file()) db_bytes += e.file_size();
  }
  Print("rocksdb_mb", static_cast<double>(db_bytes) / (1 << 20));

  // Cold: a random order of all rows, each used once; batch i goes to raw MultiGet, batch i + 1
  // (other keys) to the store.
  std::vector<uint64_t> order(static_cast<size_t>(o_.rows));
  for (int64_t r = 0; r < o_.rows; ++r) order[r] = RowId(r);
  Rng rng(o_.seed + 3);
  Shuffle(&order, &rng);
  rocksdb::DB* db = store->db_for_benchmark();
  const uint64_t table_hash = BenchSpec(o_.dim).name_hash;
  const int stride = store->stride(0);
  std::vector<char> key_bytes(static_cast<size_t>(o_.batch) * kRowKeyBytes);
  std::vector<rocksdb::Slice> keys(o_.batch);
  std::vector<rocksdb::PinnableSlice> values(o_.batch);
  std::vector<rocksdb::Status> statuses(o_.batch);
  const size_t row_bytes = static_cast<size_t>(o_.dim) * sizeof(float);
  const size_t pairs = order.size() / (2 * static_cast<size_t>(o_.batch));
  const TableStats before = store->stats(0);
  Status raw_status;
  std::vector<Meter> m;
  Interleave(
      o_.seconds,
      [&](int i) {
        Batch b;
        if (static_cast<size_t>(i) >= pairs) return b;  // every row was used once
        const size_t n = 2 * static_cast<size_t>(o_.batch);
        b.assign(order.begin() + static_cast<ptrdiff_t>(i * n),
                 order.begin() + static_cast<ptrdiff_t>((i + 1) * n));
        return b;
      },
      {[&](const Batch& b) {
         const int n = o_.batch;  // the first half
         for (int k = 0; k < n; ++k) {
           EncodeRowKey(table_hash, b[k], key_bytes.data() + k * kRowKeyBytes);
           keys[k] = rocksdb::Slice(key_bytes.data() + k * kRowKeyBytes, kRowKeyBytes);
         }
         db->MultiGet(rocksdb::ReadOptions(), db->DefaultColumnFamily(), n, keys.data(),
                      values.data(), statuses.data());
         for (int k = 0; k < n; ++k) {
           if (raw_status.ok() &&
               (!statuses[k].ok() || values[k].size() != RowValueBytes(stride))) {
             raw_status = Internal("raw MultiGet of a loaded row: " + statuses[k].ToString());
           }
           std::memcpy(out_.data() + k * o_.dim, values[k].data() + kRowHeaderBytes, row_bytes);
           values[k].Reset();
         }
       },
       [&](const Batch& b) {
         Status s = store->Pull(0, b.data() + o_.batch, o_.batch, step_++, true, out_.data());
         if (status_.ok() && !s.ok()) status_ = s;
       }},
      &m);
  RETURN_IF_ERROR(Check(raw_status, "raw MultiGet"));
  RETURN_IF_ERROR(Check(status_, "cold pulls"));
  // Each meter counted the pair; each contender served half of it.
  f->multiget = m[0].rate() / 2;
  f->cold = m[1].rate() / 2;
  const TableStats after = store->stats(0);
  f->cold_miss = static_cast<double>(after.cache_misses - before.cache_misses) /
                 static_cast<double>(m[1].keys / 2);
  Print("rocksdb_multiget_keys_per_sec", f->multiget);
  Print("cold_pull_keys_per_sec", f->cold);
  Print("cold_pull_miss_fraction", f->cold_miss);

  // Zipf: warm the small cache on three cache-fulls of keys, then the same fresh batches go to
  // both stores.
  Rng zrng(o_.seed + 1), shuffle(o_.seed + 2), warm_rng(o_.seed + 4);
  const int64_t warm_keys = 3 * store->cache_stats().budget_bytes / row_cost;
  for (int64_t seen = 0; seen < warm_keys;) {
    const Batch b = MakeBatch(o_.batch, &shuffle, [&] { return zipf_(&warm_rng); });
    Pull(store.get(), b);
    seen += static_cast<int64_t>(b.size());
  }
  const TableStats warm = store->stats(0);
  Interleave(
      o_.seconds, [&](int) { return MakeBatch(o_.batch, &shuffle, [&] { return zipf_(&zrng); }); },
      {[&](const Batch& b) { Pull(resident_.get(), b); },
       [&](const Batch& b) { Pull(store.get(), b); }},
      &m);
  RETURN_IF_ERROR(Check(status_, "zipf pulls"));
  f->zipf_resident = m[0].rate();
  f->zipf_budget = m[1].rate();
  const TableStats end = store->stats(0);
  const double hits = static_cast<double>(end.cache_hits - warm.cache_hits);
  f->zipf_hit = hits / (hits + static_cast<double>(end.cache_misses - warm.cache_misses));
  Print("zipf_resident_pull_keys_per_sec", f->zipf_resident);
  Print("zipf_budget10x_pull_keys_per_sec", f->zipf_budget);
  Print("zipf_budget10x_hit_fraction", f->zipf_hit);

  // A full checkpoint copies every table file (a checkpoint shares no file with the live
  // database or another checkpoint), checksummed and fsynced; the reference copies the same
  // files with std::filesystem::copy_file (no checksum, no fsync: a lower bound).
  // Last, so that the change tracking a checkpoint starts touches none of the figures above.
  t0 = Clock::now();
  RETURN_IF_ERROR(
      Check(store->Checkpoint(dir + "/checkpoint", 1, /*incremental=*/false), "full checkpoint"));
  const double checkpoint_seconds = Since(t0);
  t0 = Clock::now();
  {
    std::error_code ec;
    std::filesystem::create_directories(dir + "/copy", ec);
    for (const auto& e : std::filesystem::directory_iterator(options.db_path)) {
      if (!e.is_regular_file()) continue;
      std::filesystem::copy_file(e.path(), dir + "/copy/" + e.path().filename().string(), ec);
      if (ec) return IoError("bench ps: copy " + e.path().string() + ": " + ec.message());
    }
  }
  const double copy_seconds = Since(t0);
  std::filesystem::remove_all(dir + "/checkpoint");
  std::filesystem::remove_all(dir + "/copy");
  Print("checkpoint_full_seconds", checkpoint_seconds);
  Print("copy_db_files_seconds", copy_seconds);
  f->checkpoint_vs_copy = copy_seconds / checkpoint_seconds;
  return Status::OK();
}

}  // namespace

Status RunPsBenchmark(const PsBenchOptions& o) {
  if (o.batch < 1 || o.rows < 10 * static_cast<int64_t>(o.batch) || o.dim < 1 || !(o.zipf > 0) ||
      !(o.seconds > 0) || o.cache_mb < 0) {
    return InvalidArgument(
        "bench ps: needs batch >= 1, rows >= 10 * batch, dim >= 1, zipf > 0, seconds > 0, "
        "cache_mb >= 0");
  }
  // Bytes a resident row is charged (record, metadata, index), as the store counts them.
  int64_t row_cost = 0;
  {
    auto probe = RowStore::Open({BenchSpec(o.dim)}).value();
    const uint64_t key = 1;
    std::vector<float> row(o.dim);
    RETURN_IF_ERROR(probe->Pull(0, &key, 1, 0, true, row.data()));
    row_cost = probe->cache_stats().resident_bytes;
  }
  const int64_t table_bytes = o.rows * row_cost;
  const int64_t cache_bytes = o.cache_mb > 0 ? o.cache_mb << 20 : table_bytes / 10;
  std::string dir = o.dir;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/moerec-ps-bench-" +
          std::to_string(::getpid());
  }
  PrintInt("rows", o.rows);
  PrintInt("dim", o.dim);
  Print("zipf", o.zipf);
  PrintInt("batch", o.batch);
  PrintInt("server_threads", 1);
  Print("table_mb", static_cast<double>(table_bytes) / (1 << 20));
  Print("cache_mb", static_cast<double>(cache_bytes) / (1 << 20));
  std::fflush(stdout);

  const ZipfSampler zipf(o.rows, o.zipf);
  Figures f;
  Bench bench(o, zipf);
  RETURN_IF_ERROR(bench.Resident(&f));
  std::fflush(stdout);
  Status s = bench.Budgeted(cache_bytes, row_cost, dir, &f);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  RETURN_IF_ERROR(s);

  Print("hot_pull_vs_hashmap_gather", f.hot / f.hashmap);  // goal >= 0.5
  Print("hot_pull_vs_keyindex_gather", f.hot / f.keyindex);
  Print("cold_pull_vs_rocksdb_multiget", f.cold / f.multiget);           // goal >= 1.0
  Print("push_vs_3m_goal", f.push / 3e6);                                // goal >= 1.0
  Print("zipf_budget10x_vs_resident", f.zipf_budget / f.zipf_resident);  // goal >= 0.3
  Print("checkpoint_full_vs_file_copy", f.checkpoint_vs_copy);           // speed of a copy's, <= 1
  std::fflush(stdout);
  return Status::OK();
}

}  // namespace moerec
