// `moerec bench <name>`: the benchmarks of bench/.
#include <gflags/gflags.h>

#include <cstdio>

#include "bench/mmoe_ref.h"
#include "launch/commands.h"

DEFINE_int32(threads, 2, "bench: compute threads");
DEFINE_int32(steps, 100, "bench: timed steps");
DEFINE_int32(warmup, 10, "bench: untimed steps before timing");
DEFINE_bool(torch, true, "bench mmoe-ref: also run the PyTorch reference in the same run");

namespace moerec {

int BenchCommand(const std::string& name) {
  if (name == "mmoe-ref") {
    MmoeRefOptions options;
    options.threads = FLAGS_threads;
    options.steps = FLAGS_steps;
    options.warmup = FLAGS_warmup;
    options.torch = FLAGS_torch;
    return ReportStatus("bench mmoe-ref", RunMmoeRefBenchmark(options));
  }
  std::fprintf(stderr, "moerec bench: unknown benchmark '%s' (known: mmoe-ref)\n", name.c_str());
  return 2;
}

}  // namespace moerec
