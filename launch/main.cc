// moerec: the command-line entry of the system. `moerec <command> [--flags]`; see Usage().
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "launch/commands.h"

namespace {

const char kUsage[] =
    "moerec <command> [flags]\n"
    "commands:\n"
    "  train --config=FILE --run_dir=DIR [--max_steps=N]\n"
    "        train a model; generates the config's synthetic data first when it is missing\n"
    "  gen --config=FILE [--force]\n"
    "        write the config's synthetic dataset (data.synthetic) to its train/validation/test\n"
    "        folders\n"
    "  convert --config=FILE\n"
    "        convert CSV/TSV or MovieLens files to moerec shards (see docs/formats.md)\n"
    "  bench mmoe-ref [--threads=N] [--steps=N] [--batch=N] [--device=cpu|cuda]\n"
    "        the reference MMoE training benchmark, side by side with PyTorch\n"
    "  bench m3oe [--threads=N] [--steps=N] [--batch=N] [--device=cpu|cuda]\n"
    "        M3oE on the same inputs and optimizers, side by side with PyTorch\n"
    "  bench moe [--experts=E] [--top_k=K] [--batch=B] [--steps=N]\n"
    "        expert-parallel vs replicated top-k MoE steps (run under mpirun on W ranks)\n"
    "  bench ps [--rows=N] [--dim=D] [--zipf=S] [--cache_mb=M]\n"
    "        parameter-server storage: hot/cold pull and push keys/s against raw RocksDB\n"
    "        MultiGet and an in-memory hash-map gather\n"
    "  bench retrieve [--items=N] [--dim=D] [--queries=Q] [--k=K]\n"
    "        faiss flat and IVF-PQ item indexes: build time, queries/s, IVF-PQ recall, against\n"
    "        the exact top-K of worker/metrics/retrieval.h\n"
    "  bench nccl\n"
    "        NCCL all-to-all and all-reduce bytes/s on GPU 0 (one rank), against a device copy\n"
    "  export --config=FILE --run_dir=DIR --out=DIR [--split=test] [--index_kind=flat|ivfpq]\n"
    "        a trained matching model's item and user embeddings, its faiss item index, and\n"
    "        Recall@K through the index next to the exact figure\n"
    "  index --items=ITEM_EMB_FILE --out=INDEX_FILE [--index_kind=flat|ivfpq] [--nlist=N]\n"
    "        [--pq_m=M] [--pq_bits=B] [--nprobe=P]\n"
    "        build a faiss inner-product index of exported item embeddings (docs/formats.md)\n"
    "  retrieve --index=INDEX_FILE --users=USER_EMB_FILE --out=TSV [--k=50] [--nprobe=P]\n"
    "        the top-K items of every user: user_id<TAB>scenario<TAB>item:score,...\n"
    "  report RUN_DIR [RUN_DIR ...] [--out=FILE]\n"
    "        one self-contained HTML page of the runs' metrics (default RUN_DIR/report.html)\n"
    "  eval --checkpoint=DIR [--split=test] [--config=FILE]\n"
    "        the metrics table of a saved model (a checkpoint folder of any run)\n"
    "  predict --checkpoint=DIR --data=SHARDS --out=FILE [--config=FILE]\n"
    "        a saved model's probability per task of every sample (docs/formats.md)\n"
    "  info\n"
    "        what this binary was built with (CUDA, MPI, RocksDB, faiss, BLAS) and the GPUs it "
    "sees\n"
    "run `moerec <command> --help` for the flags of a command";

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  gflags::SetUsageMessage(kUsage);
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fprintf(argc < 2 ? stderr : stdout, "%s\n", kUsage);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  std::string bench_name;
  // Drop the command (and the benchmark name) so gflags sees only flags.
  int skip = 1;
  if (command == "bench") {
    if (argc < 3 || argv[2][0] == '-') {
      std::fprintf(stderr,
                   "moerec bench: name a benchmark (mmoe-ref, m3oe, ps, moe, retrieve, nccl)\n");
      return 2;
    }
    bench_name = argv[2];
    skip = 2;
  }
  for (int i = 1; i + skip < argc; ++i) argv[i] = argv[i + skip];
  argc -= skip;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Only `report` takes positional arguments (its run folders).
  if (argc > 1 && command != "report") {
    std::fprintf(stderr, "moerec %s: unexpected argument '%s'\n", command.c_str(), argv[1]);
    return 2;
  }
  if (command == "report") return moerec::ReportCommand(argc, argv);
  if (command == "eval") return moerec::EvalCommand();
  if (command == "predict") return moerec::PredictCommand();
  if (command == "train") return moerec::TrainCommand(&argc, &argv);
  if (command == "gen") return moerec::GenCommand();
  if (command == "convert") return moerec::ConvertCommand();
  if (command == "bench") return moerec::BenchCommand(bench_name);
  if (command == "export") return moerec::ExportCommand();
  if (command == "index") return moerec::IndexCommand();
  if (command == "retrieve") return moerec::RetrieveCommand();
  if (command == "info") return moerec::InfoCommand();
  std::fprintf(stderr, "moerec: unknown command '%s'\n%s\n", command.c_str(), kUsage);
  return 2;
}
