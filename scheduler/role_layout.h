// RoleLayout: which world rank plays which role in a job (DESIGN.md §2). W workers and P
// parameter servers; by default workers take ranks [0, W) and servers [W, W + P), or the
// cluster config lists them explicitly. The scheduler's duties (clocks, checkpoint
// coordination, metrics, health) run on worker 0's rank, the chief.
// A layout must cover the world exactly: every rank has one role. Built once at start-up.
// Thread-safety: immutable.
#ifndef MOEREC_SCHEDULER_ROLE_LAYOUT_H_
#define MOEREC_SCHEDULER_ROLE_LAYOUT_H_

#include <vector>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

enum class Role { kWorker, kServer };

class RoleLayout {
 public:
  // InvalidArgument naming the field when the config's counts or rank lists do not fit a world
  // of `world_size` ranks (e.g. "cluster: 1 workers + 2 servers = 3 ranks, but mpirun started 4").
  static StatusOr<RoleLayout> Create(const ClusterConfig& cluster, int world_size);

  int world_size() const { return static_cast<int>(role_.size()); }
  int num_workers() const { return static_cast<int>(workers_.size()); }
  int num_servers() const { return static_cast<int>(servers_.size()); }
  Role role(int rank) const { return role_[rank]; }
  // Index of `rank` among its role's ranks.
  int index(int rank) const { return index_[rank]; }
  const std::vector<int>& worker_ranks() const { return workers_; }
  const std::vector<int>& server_ranks() const { return servers_; }
  int chief_rank() const { return workers_[0]; }

 private:
  std::vector<Role> role_;
  std::vector<int> index_;
  std::vector<int> workers_;
  std::vector<int> servers_;
};

}  // namespace moerec

#endif  // MOEREC_SCHEDULER_ROLE_LAYOUT_H_
