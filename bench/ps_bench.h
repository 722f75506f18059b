// The parameter-server storage benchmark (`moerec bench ps`, DESIGN.md §8): pull and push keys/s
// of one RowStore (one server thread) on resident rows and on rows that live only in RocksDB,
// side by side in the same run, on the same rows, with the raw references: RocksDB's own MultiGet
// and an in-memory hash-map gather.
//
// Rows are random 64-bit ids; every call carries `batch` unique keys (like a server request).
//   hashmap_gather    std::unordered_map<id, row> index into one (rows, dim) float slab, memcpy
//                     of each row; keyindex_gather: the same through the store's KeyIndex.
//   hot_pull / push   training pulls / Adagrad pushes of uniform random rows, all resident.
//   rocksdb_multiget  DB::MultiGet (default ReadOptions, unsorted keys) on the row store's own
//                     RocksDB, values copied out; interleaved batch by batch with
//   cold_pull         training pulls of rows not in the cache (each key once), same database.
//   zipf_budget10x    training pulls of Zipf(zipf) ids through a cache holding a tenth of the
//                     table (cache_mb), against zipf_resident, the same batches all resident.
//   checkpoint_full   a full checkpoint of that store (its table files copied, checksummed,
//                     fsynced), against copy_db_files, std::filesystem::copy_file of the same
//                     files.
// Prints name=value lines, the ratios against the goals last.
#ifndef MOEREC_BENCH_PS_BENCH_H_
#define MOEREC_BENCH_PS_BENCH_H_

#include <cstdint>
#include <string>

#include "core/status.h"

namespace moerec {

struct PsBenchOptions {
  int64_t rows = 4000000;  // rows of the table; >= 10 * batch
  int dim = 16;
  double zipf = 1.1;     // Zipf exponent of the budget10x pulls; > 0
  int64_t cache_mb = 0;  // row cache of the RocksDB-backed store; 0 = a tenth of the table
  int batch = 16384;     // keys per call
  double seconds = 2.0;  // timed per figure
  std::string dir;       // scratch folder for RocksDB; default $TMPDIR or /tmp
  // RocksDbConfig fields in protobuf text format (e.g. "block_size_kb: 8"), over the defaults.
  std::string rocksdb;
  uint64_t seed = 1;
};

Status RunPsBenchmark(const PsBenchOptions& options);

}  // namespace moerec

#endif  // MOEREC_BENCH_PS_BENCH_H_
