// `moerec train`: load and validate a job config, make sure its data exists (generating the
// synthetic dataset when the config has one and its files are missing), then train.
#include <gflags/gflags.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "comm/communicator.h"
#include "comm/mpi_check.h"
#include "comm/mpi_communicator.h"
#include "core/file_lock.h"
#include "embedding/table_spec.h"
#include "experts/model.h"
#include "launch/commands.h"
#include "launch/distributed_job.h"
#include "launch/job_setup.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "worker/memory_check.h"
#include "worker/step_runner.h"
#include "worker/trainer.h"

DEFINE_string(config, "", "job config (protobuf text format), e.g. configs/quickstart.pbtxt");
DEFINE_string(run_dir, "", "folder for this run's outputs (metrics.jsonl, checkpoints)");
DEFINE_int64(max_steps, -1, "stop after this many steps (replaces train.max_steps when >= 0)");
DEFINE_int32(servers, -1, "parameter-server ranks (replaces cluster.num_servers when >= 0)");
DEFINE_int32(workers, -1, "worker ranks (replaces cluster.num_workers when >= 1)");
DEFINE_int32(teachers, -1, "teacher ranks (replaces cluster.num_teachers when >= 0)");
DEFINE_string(device, "cpu",
              "where workers run the dense model: cpu, or cuda (one GPU per worker: a worker's "
              "rank among the workers of its node picks the device); bench mmoe-ref and m3oe: "
              "cpu, or cuda (GPU 0, against PyTorch on it)");
DEFINE_bool(allow_fresh_start, false,
            "train: when checkpoints exist but none is whole, set them aside and start from step "
            "0 (default: refuse, listing them)");
DEFINE_double(tb_flush_secs, 10,
              "train: TensorBoard event files in RUN_DIR/tb/ are written out at least this often "
              "(seconds); 0 = no event files");
DEFINE_bool(refuse_earlier_checkpoints, false,
            "train: with checkpoint.resume false, refuse to start when the run folder holds "
            "checkpoints (default: move them aside)");

namespace moerec {
namespace {

// Single process: in-process tables, one worker.
Status TrainLocal(const JobConfig& config, Trainer::Options options) {
  std::unique_ptr<GpuResources> gpu;
  if (FLAGS_device == "cuda") {
    ASSIGN_OR_RETURN(gpu, OpenWorkerGpu(/*local_rank=*/0));
    options.gpu = gpu.get();
  }
  ASSIGN_OR_RETURN(const std::unique_ptr<FileLock> lock, LockRunDir(options.run_dir));
  RETURN_IF_ERROR(SaveRunConfig(config, options.run_dir));
  RETURN_IF_ERROR(EnsureSyntheticData(config.data(), /*force=*/false));
  RETURN_IF_ERROR(CheckSplits(config.data()));
  ASSIGN_OR_RETURN(auto store, LocalStore::Open(TableSpecsFromConfig(config)));
  SelfCommunicator self;
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, options, store.get(), &self));
  RETURN_IF_ERROR(trainer->Run().status());
  std::printf("metrics: %s/metrics.jsonl\n", options.run_dir.c_str());
  if (options.tb_flush_secs > 0) std::printf("tensorboard: %s/tb\n", options.run_dir.c_str());
  return Status::OK();
}

// A flag given on the command line (not left at its default).
bool FlagGiven(const char* name) {
  gflags::CommandLineFlagInfo info;
  return gflags::GetCommandLineFlagInfo(name, &info) && !info.is_default;
}

Status CheckFlagRanges() {
  if (FlagGiven("servers") && FLAGS_servers < 0) {
    return InvalidArgument("--servers=" + std::to_string(FLAGS_servers) + ": must be >= 0");
  }
  if (FlagGiven("teachers") && FLAGS_teachers < 0) {
    return InvalidArgument("--teachers=" + std::to_string(FLAGS_teachers) + ": must be >= 0");
  }
  if (FlagGiven("workers") && FLAGS_workers < 1) {
    return InvalidArgument("--workers=" + std::to_string(FLAGS_workers) + ": must be >= 1");
  }
  if (FLAGS_tb_flush_secs < 0) {
    return InvalidArgument("--tb_flush_secs=" + std::to_string(FLAGS_tb_flush_secs) +
                           ": must be >= 0 (0 = no TensorBoard files)");
  }
  if (FlagGiven("max_steps") && FLAGS_max_steps < 0) {
    return InvalidArgument("--max_steps=" + std::to_string(FLAGS_max_steps) +
                           ": must be >= 0 (0 = no limit)");
  }
  return Status::OK();
}

StatusOr<JobConfig> LoadWithFlags() {
  if (FLAGS_config.empty()) return InvalidArgument("--config is required");
  if (FLAGS_run_dir.empty()) return InvalidArgument("--run_dir is required");
  if (FLAGS_device != "cpu" && FLAGS_device != "cuda") {
    return InvalidArgument("--device=" + FLAGS_device + ": must be cpu or cuda");
  }
  RETURN_IF_ERROR(CheckFlagRanges());
  ASSIGN_OR_RETURN(JobConfig config, LoadJobConfig(FLAGS_config));
  if (FLAGS_servers >= 0) config.mutable_cluster()->set_num_servers(FLAGS_servers);
  if (FLAGS_workers >= 1) config.mutable_cluster()->set_num_workers(FLAGS_workers);
  if (FLAGS_teachers >= 0) config.mutable_cluster()->set_num_teachers(FLAGS_teachers);
  if (FLAGS_servers >= 0 || FLAGS_workers >= 1) {
    config.mutable_cluster()->clear_server_ranks();
    config.mutable_cluster()->clear_worker_ranks();
  }
  RETURN_IF_ERROR(ValidateJobConfig(config, FLAGS_config));
  // The model's own settings against the data's shape, before any data is generated.
  const ModelShape shape = ModelShapeFromConfig(config);
  RETURN_IF_ERROR(ValidateModelConfig(config.model(), shape).WithContext(FLAGS_config));
  // Bounded models: refused here, with the sizes, rather than by a failed allocation later.
  RETURN_IF_ERROR(
      CheckWorkerMemory(config, shape, AvailableMemoryBytes()).WithContext(FLAGS_config));
  return config;
}

Trainer::Options OptionsFromFlags() {
  Trainer::Options options;
  options.run_dir = FLAGS_run_dir;
  options.max_steps = FLAGS_max_steps;
  options.allow_fresh_start = FLAGS_allow_fresh_start;
  options.refuse_earlier_checkpoints = FLAGS_refuse_earlier_checkpoints;
  options.tb_flush_secs = FLAGS_tb_flush_secs;
  options.interactive = InteractiveProgress();
  return options;
}

}  // namespace

int TrainCommand(int* argc, char*** argv) {
  StatusOr<JobConfig> config = LoadWithFlags();
  const bool mpi = MpiSession::LaunchedByMpi();
  if (!mpi) {
    if (!config.ok()) return ReportStatus("train", config.status());
    if (config->cluster().num_servers() > 0 || config->cluster().num_workers() > 1 ||
        config->cluster().num_teachers() > 0) {
      return ReportStatus(
          "train", FailedPrecondition(
                       FLAGS_config + ": " + std::to_string(config->cluster().num_workers()) +
                       " workers, " + std::to_string(config->cluster().num_servers()) +
                       " servers and " + std::to_string(config->cluster().num_teachers()) +
                       " teachers make an MPI job: start it with launch/moerec-launch or mpirun"));
    }
    return ReportStatus("train", TrainLocal(*config, OptionsFromFlags()));
  }
  StatusOr<std::unique_ptr<MpiSession>> session = MpiSession::Init(argc, argv);
  if (!session.ok()) return ReportStatus("train", session.status());
  Status status = config.status();
  if (status.ok()) {
    if ((*session)->world_size() == 1 && config->cluster().num_servers() == 0) {
      status = TrainLocal(*config, OptionsFromFlags());
    } else {
      status = RunDistributedTraining(*config, OptionsFromFlags(), **session);
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr, "moerec train (rank %d): %s\n", (*session)->world_rank(),
                 status.ToString().c_str());
    std::fflush(stderr);
    MPI_LOG_IF_ERROR(MPI_Abort(MPI_COMM_WORLD, ExitCodeFor(status)));
  }
  return 0;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kCorruption:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kResourceExhausted:
      return kExitNoRestart;
    case StatusCode::kIoError:
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
      return 1;
  }
  return 1;
}

int ReportStatus(const std::string& command, const Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "moerec %s: %s\n", command.c_str(), status.ToString().c_str());
  return ExitCodeFor(status);
}

}  // namespace moerec
