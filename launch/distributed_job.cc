#include "launch/distributed_job.h"

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <filesystem>
#include <vector>

#include "comm/local_rank.h"
#include "comm/messenger.h"
#include "comm/mpi_check.h"
#include "comm/worker_communicator.h"
#include "embedding/row_cache.h"
#include "embedding/table_spec.h"
#include "launch/job_setup.h"
#include "ps/client.h"
#include "ps/row_store.h"
#include "ps/server.h"
#include "scheduler/health.h"
#include "scheduler/role_layout.h"
#include "worker/teacher.h"

DECLARE_string(device);  // launch/train_command.cc

namespace moerec {
namespace {

Status RunServer(const JobConfig& config, const Trainer::Options& options, const RoleLayout& layout,
                 int index, MPI_Comm ps_comm) {
  ServerConfig server_config = config.ps();
  // A relative RocksDB folder lives in the run folder.
  if (!server_config.db_dir().empty() &&
      !std::filesystem::path(server_config.db_dir()).is_absolute()) {
    server_config.set_db_dir(
        (std::filesystem::path(options.run_dir) / server_config.db_dir()).string());
  }
  const RowStoreOptions store_options =
      RowStoreOptionsFromConfig(server_config, index, layout.num_servers());
  ASSIGN_OR_RETURN(auto store, RowStore::Open(TableSpecsFromConfig(config), store_options));
  PsServer::Options server_options;
  server_options.server_index = index;
  server_options.num_servers = layout.num_servers();
  server_options.worker_ranks = layout.worker_ranks();
  server_options.sync = config.cluster().sync();
  server_options.staleness = config.cluster().staleness();
  server_options.evict_every_steps = config.ps().evict_every_steps();
  ASSIGN_OR_RETURN(auto server, PsServer::Create(std::move(store), server_options, ps_comm));
  LOG(INFO) << "server " << index << " of " << layout.num_servers() << " serving "
            << layout.num_workers() << " workers ("
            << (store_options.db_path.empty() ? "memory only" : "RocksDB " + store_options.db_path)
            << ")";
  return server->Run();
}

// A teacher rank: serves its workers' pairs (worker w goes to teacher w mod T) until all are done.
Status RunTeacher(const JobConfig& config, const RoleLayout& layout, int rank,
                  Messenger* messenger) {
  std::vector<int> clients;
  for (int w = 0; w < layout.num_workers(); ++w) {
    if (layout.teacher_of_worker(w) == rank) clients.push_back(layout.worker_ranks()[w]);
  }
  return ServeTeacher(config, messenger, clients);
}

Status RunWorker(const JobConfig& config, const Trainer::Options& options, const RoleLayout& layout,
                 int index, MPI_Comm ps_comm, MPI_Comm worker_comm, Messenger* messenger) {
  PsClient::Options client_options;
  client_options.worker_index = index;
  client_options.server_ranks = layout.server_ranks();
  ASSIGN_OR_RETURN(auto client,
                   PsClient::Create(TableSpecsFromConfig(config), client_options, ps_comm));
  ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> workers,
                   MpiCommunicator::Create(worker_comm, /*owned=*/false));
  EmbeddingStore* store = client.get();
  std::unique_ptr<CachingStore> cache;
  // A GPU worker's StepRunner keeps its own row cache in device memory (GpuRowCache, the same
  // staleness and capacity) in front of the client.
  if (config.cluster().row_cache_staleness() > 0 && FLAGS_device != "cuda") {
    cache = std::make_unique<CachingStore>(client.get(), TableSpecsFromConfig(config),
                                           config.cluster().row_cache_staleness(),
                                           config.cluster().row_cache_rows());
    store = cache.get();
  }
  Trainer::Options worker_options = options;
  std::unique_ptr<GpuResources> gpu;
  std::unique_ptr<Communicator> nccl;
  if (FLAGS_device == "cuda") {
    // The worker's rank among the workers of its node picks its GPU; the dense all-reduce
    // then runs on NCCL over the same workers.
    ASSIGN_OR_RETURN(const int local_rank, LocalRank(worker_comm));
    ASSIGN_OR_RETURN(gpu, OpenWorkerGpu(local_rank));
    worker_options.gpu = gpu.get();
    ASSIGN_OR_RETURN(nccl, MakeWorkerCommunicator(workers.get(), gpu.get()));
    worker_options.device_workers = nccl.get();
  }
  worker_options.interactive = options.interactive && index == 0;
  worker_options.print_table = index == 0;
  std::unique_ptr<RemoteTeacher> teacher;
  if (layout.num_teachers() > 0) {
    teacher = std::make_unique<RemoteTeacher>(messenger, layout.teacher_of_worker(index));
    worker_options.teacher = teacher.get();
  }
  Status result;
  int64_t step = 0;
  {
    StatusOr<std::unique_ptr<Trainer>> trainer =
        Trainer::Create(config, worker_options, store, workers.get());
    result = trainer.status();
    if (result.ok()) {
      result = (*trainer)->Run().status();
      step = (*trainer)->step();
    }
  }
  if (!result.ok()) return result;
  if (teacher != nullptr) RETURN_IF_ERROR(teacher->Done());
  return client->Shutdown(step);
}

// node_of_rank[r] = the lowest world rank sharing memory with rank r (MPI's view of nodes).
StatusOr<std::vector<int>> NodesFromMpi(int world_rank, int world_size) {
  MPI_Comm node_comm = MPI_COMM_NULL;
  MPI_RETURN_IF_ERROR(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank,
                                          MPI_INFO_NULL, &node_comm));
  int node = world_rank;
  MPI_RETURN_IF_ERROR(MPI_Allreduce(MPI_IN_PLACE, &node, 1, MPI_INT, MPI_MIN, node_comm));
  MPI_RETURN_IF_ERROR(MPI_Comm_free(&node_comm));
  std::vector<int> node_of_rank(world_size);
  MPI_RETURN_IF_ERROR(
      MPI_Allgather(&node, 1, MPI_INT, node_of_rank.data(), 1, MPI_INT, MPI_COMM_WORLD));
  return node_of_rank;
}

}  // namespace

Status RunDistributedTraining(const JobConfig& config, const Trainer::Options& options,
                              const MpiSession& mpi) {
  const int rank = mpi.world_rank();
  std::vector<int> node_of_rank;
  if (config.cluster().ranks_per_node() == 0) {
    ASSIGN_OR_RETURN(node_of_rank, NodesFromMpi(rank, mpi.world_size()));
  }
  ASSIGN_OR_RETURN(const RoleLayout layout,
                   RoleLayout::Create(config.cluster(), mpi.world_size(), node_of_rank));
  // The chief alone takes the run folder's lock and readies the data, before any rank touches
  // the folder (servers replace their databases in it); every rank learns whether it may go on.
  std::unique_ptr<FileLock> run_lock;
  Status setup;
  if (rank == layout.chief_rank()) {
    LOG(INFO) << "layout: " << layout.Describe();
    setup = [&]() -> Status {
      ASSIGN_OR_RETURN(run_lock, LockRunDir(options.run_dir));
      RETURN_IF_ERROR(SaveRunConfig(config, options.run_dir));
      RETURN_IF_ERROR(EnsureSyntheticData(config.data(), /*force=*/false));
      return CheckSplits(config.data());
    }();
  }
  // The chief's status code (0 = go on), so that every rank ends with the same exit status.
  int code = static_cast<int>(setup.code());
  MPI_RETURN_IF_ERROR(MPI_Bcast(&code, 1, MPI_INT, layout.chief_rank(), MPI_COMM_WORLD));
  if (!setup.ok()) return setup;
  if (code != 0) {
    const StatusCode c =
        code > 0 && code <= kLastStatusCode ? static_cast<StatusCode>(code) : StatusCode::kInternal;
    return Status(c, "the job did not start: its chief (world rank " +
                         std::to_string(layout.chief_rank()) + ") reports why");
  }

  MPI_Comm ps_comm = MPI_COMM_NULL, role_comm = MPI_COMM_NULL;
  MPI_RETURN_IF_ERROR(MPI_Comm_dup(MPI_COMM_WORLD, &ps_comm));
  const Role role = layout.role(rank);
  MPI_RETURN_IF_ERROR(MPI_Comm_split(MPI_COMM_WORLD, static_cast<int>(role), rank, &role_comm));
  // Workers and teacher ranks talk point to point (world ranks) when there are teachers.
  std::unique_ptr<MpiMessenger> messenger;
  if (layout.num_teachers() > 0) {
    ASSIGN_OR_RETURN(messenger, MpiMessenger::Create(MPI_COMM_WORLD));
  }
  MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(ps_comm, MPI_ERRORS_RETURN));
  std::unique_ptr<HealthMonitor> health;
  if (config.cluster().health_timeout_s() > 0) {
    HealthMonitor::Options h;
    h.interval_s = config.cluster().health_interval_s();
    h.timeout_s = config.cluster().health_timeout_s();
    h.chief = layout.chief_rank();
    h.describe = [&layout](int r) { return layout.Name(r); };
    ASSIGN_OR_RETURN(health, HealthMonitor::Start(MPI_COMM_WORLD, h));
  }
  Status result;
  switch (role) {
    case Role::kServer:
      result = RunServer(config, options, layout, layout.index(rank), ps_comm);
      break;
    case Role::kTeacher:
      result = RunTeacher(config, layout, rank, messenger.get());
      break;
    case Role::kWorker:
      result = RunWorker(config, options, layout, layout.index(rank), ps_comm, role_comm,
                         messenger.get());
      break;
  }
  if (result.ok()) {
    if (health != nullptr) health->Stop();
    MPI_RETURN_IF_ERROR(MPI_Comm_free(&role_comm));
    MPI_RETURN_IF_ERROR(MPI_Comm_free(&ps_comm));
  }
  return result;
}

}  // namespace moerec
