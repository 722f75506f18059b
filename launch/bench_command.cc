// `moerec bench <name>`: the benchmarks of bench/.
#include <gflags/gflags.h>

#include <charconv>
#include <cstdio>
#include <string>

#include "bench/mmoe_ref.h"
#include "bench/moe_bench.h"
#include "bench/nccl_bench.h"
#include "bench/ps_bench.h"
#include "bench/retrieve_bench.h"
#include "comm/mpi_communicator.h"
#include "launch/commands.h"

DEFINE_int32(threads, 2, "bench: compute threads");
DEFINE_int32(steps, 100, "bench: timed steps");
DEFINE_int32(warmup, 10, "bench: untimed steps before timing");
DEFINE_bool(torch, true, "bench mmoe-ref: also run the PyTorch reference in the same run");
DEFINE_int64(rows, 4000000, "bench ps: rows of the table");
DEFINE_int32(dim, 16, "bench ps: row width; bench retrieve: embedding width (default 64)");
DEFINE_double(zipf, 1.1, "bench ps: Zipf exponent of the table-10x-cache pulls");
DEFINE_int64(cache_mb, 0, "bench ps: row cache in MiB (0 = a tenth of the table)");
DEFINE_int32(batch, 16384,
             "bench ps: keys per call; bench moe, mmoe-ref, m3oe: samples per step (default 1024)");
DECLARE_string(device);  // launch/train_command.cc; bench mmoe-ref and m3oe take it too
DEFINE_int32(experts, 64, "bench moe: experts");
DEFINE_int32(top_k, 2, "bench moe: experts per sample");
DEFINE_double(seconds, 2.0, "bench ps: seconds timed per figure");
DEFINE_string(rocksdb, "",
              "bench ps: RocksDbConfig fields (proto/ps.proto) in text format over the defaults, "
              "e.g. \"block_size_kb: 8 verify_checksums: false\"");
DEFINE_int64(queries, 10000, "bench retrieve: queries (users) searched");
DEFINE_int64(exact_queries, 0, "bench retrieve: queries ranked by ExactTopK (0: all)");
// Shared with `moerec index` / `moerec retrieve` (launch/retrieve_command.cc).
DECLARE_string(items);
DECLARE_int64(k);
DECLARE_int32(nprobe);
DECLARE_int32(nlist);
DECLARE_int32(pq_m);

namespace moerec {

int BenchCommand(const std::string& name) {
  if (name == "mmoe-ref" || name == "m3oe") {
    MmoeRefOptions options;
    options.workload = name == "m3oe" ? "m3oe" : "mmoe";
    options.threads = FLAGS_threads;
    options.steps = FLAGS_steps;
    options.warmup = FLAGS_warmup;
    options.torch = FLAGS_torch;
    options.device = FLAGS_device;
    if (!gflags::GetCommandLineFlagInfoOrDie("batch").is_default) options.batch = FLAGS_batch;
    return ReportStatus("bench " + name, RunMmoeRefBenchmark(options));
  }
  if (name == "nccl") {
    NcclBenchOptions options;
    return ReportStatus("bench nccl", RunNcclBenchmark(options));
  }
  if (name == "ps") {
    PsBenchOptions options;
    options.rows = FLAGS_rows;
    options.dim = FLAGS_dim;
    options.zipf = FLAGS_zipf;
    options.cache_mb = FLAGS_cache_mb;
    options.batch = FLAGS_batch;
    options.seconds = FLAGS_seconds;
    options.rocksdb = FLAGS_rocksdb;
    return ReportStatus("bench ps", RunPsBenchmark(options));
  }
  if (name == "moe") {
    MoeBenchOptions options;
    options.experts = FLAGS_experts;
    options.top_k = FLAGS_top_k;
    if (!gflags::GetCommandLineFlagInfoOrDie("batch").is_default) options.batch = FLAGS_batch;
    if (!gflags::GetCommandLineFlagInfoOrDie("steps").is_default) options.steps = FLAGS_steps;
    if (!gflags::GetCommandLineFlagInfoOrDie("warmup").is_default) options.warmup = FLAGS_warmup;
    if (!gflags::GetCommandLineFlagInfoOrDie("threads").is_default) options.threads = FLAGS_threads;
    // Under mpirun every rank is a worker; alone, one worker.
    if (!MpiSession::LaunchedByMpi()) {
      SelfCommunicator self;
      return ReportStatus("bench moe", RunMoeBenchmark(options, &self));
    }
    auto session = MpiSession::Init(nullptr, nullptr);
    if (!session.ok()) return ReportStatus("bench moe", session.status());
    auto world = MpiCommunicator::Create(MPI_COMM_WORLD, /*owned=*/false);
    if (!world.ok()) return ReportStatus("bench moe", world.status());
    return ReportStatus("bench moe", RunMoeBenchmark(options, world->get()));
  }
  if (name == "retrieve") {
    RetrieveBenchOptions options;
    if (!FLAGS_items.empty()) {
      const char* end = FLAGS_items.data() + FLAGS_items.size();
      const auto [ptr, ec] = std::from_chars(FLAGS_items.data(), end, options.items);
      if (ec != std::errc() || ptr != end) {
        return ReportStatus("bench retrieve",
                            InvalidArgument("--items=" + FLAGS_items + ": want an item count"));
      }
    }
    if (!gflags::GetCommandLineFlagInfoOrDie("dim").is_default) options.dim = FLAGS_dim;
    if (!gflags::GetCommandLineFlagInfoOrDie("threads").is_default) options.threads = FLAGS_threads;
    if (FLAGS_nprobe != -1) options.nprobe = FLAGS_nprobe;
    options.queries = FLAGS_queries;
    options.exact_queries = FLAGS_exact_queries;
    options.k = FLAGS_k;
    options.nlist = FLAGS_nlist;
    options.pq_m = FLAGS_pq_m;
    return ReportStatus("bench retrieve", RunRetrieveBenchmark(options));
  }
  std::fprintf(
      stderr,
      "moerec bench: unknown benchmark '%s' (known: mmoe-ref, m3oe, ps, moe, retrieve, nccl)\n",
      name.c_str());
  return 2;
}

}  // namespace moerec
