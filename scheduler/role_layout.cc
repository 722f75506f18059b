#include "scheduler/role_layout.h"

#include <string>

namespace moerec {

StatusOr<RoleLayout> RoleLayout::Create(const ClusterConfig& cluster, int world_size) {
  const int w = cluster.num_workers();
  const int p = cluster.num_servers();
  if (w < 1) return InvalidArgument("cluster.num_workers: must be >= 1, got " + std::to_string(w));
  if (w + p != world_size) {
    return InvalidArgument("cluster: " + std::to_string(w) + " workers + " + std::to_string(p) +
                           " servers = " + std::to_string(w + p) + " ranks, but the job has " +
                           std::to_string(world_size) + " (mpirun -np / srun -n must match)");
  }
  RoleLayout layout;
  layout.role_.assign(world_size, Role::kWorker);
  layout.index_.assign(world_size, -1);
  std::vector<bool> taken(world_size, false);
  auto place = [&](const google::protobuf::RepeatedField<int32_t>& listed, int count, int first,
                   Role role, const char* field, std::vector<int>* out) -> Status {
    for (int i = 0; i < count; ++i) {
      const int rank = listed.empty() ? first + i : listed[i];
      if (rank < 0 || rank >= world_size) {
        return InvalidArgument(std::string(field) + "[" + std::to_string(i) + "]: rank " +
                               std::to_string(rank) + " is not in [0, " +
                               std::to_string(world_size) + ")");
      }
      if (taken[rank]) {
        return InvalidArgument(std::string(field) + "[" + std::to_string(i) + "]: rank " +
                               std::to_string(rank) + " already has a role");
      }
      taken[rank] = true;
      layout.role_[rank] = role;
      layout.index_[rank] = i;
      out->push_back(rank);
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(
      place(cluster.worker_ranks(), w, 0, Role::kWorker, "cluster.worker_ranks", &layout.workers_));
  RETURN_IF_ERROR(
      place(cluster.server_ranks(), p, w, Role::kServer, "cluster.server_ranks", &layout.servers_));
  return layout;
}

}  // namespace moerec
