// RoleLayout: which world rank plays which role in a job (DESIGN.md §2). W workers, P
// parameter servers and T teacher ranks (a distilled model's teacher: cluster.num_teachers),
// which take the ranks left after the workers and servers are placed. The cluster config may list
// the ranks of either role (the other role then takes the remaining ranks in order); with no lists
// the layout spreads the servers evenly over the nodes, each on one of its node's highest ranks,
// and the workers take the rest in order, so on a single node workers are [0, W) and servers [W, W
// + P). The scheduler's duties (clocks, checkpoint coordination, metrics, health) run on worker 0
// (the lowest worker rank unless the config lists them), the chief. A layout covers the world
// exactly: every rank has one role. Built once at start-up. Thread-safety: immutable.
#ifndef MOEREC_SCHEDULER_ROLE_LAYOUT_H_
#define MOEREC_SCHEDULER_ROLE_LAYOUT_H_

#include <string>
#include <vector>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

enum class Role { kWorker, kServer, kTeacher };

class RoleLayout {
 public:
  // `node_of_rank[r]` is the node (any integer label) that world rank r runs on; empty means one
  // node, unless cluster.ranks_per_node > 0, which groups consecutive ranks and wins over it.
  // InvalidArgument naming the field when the config's counts or rank lists do not fit a world
  // of `world_size` ranks (e.g. "cluster: 1 workers + 2 servers = 3 ranks, but the job has 4").
  static StatusOr<RoleLayout> Create(const ClusterConfig& cluster, int world_size,
                                     const std::vector<int>& node_of_rank = {});

  int world_size() const { return static_cast<int>(role_.size()); }
  int num_workers() const { return static_cast<int>(workers_.size()); }
  int num_servers() const { return static_cast<int>(servers_.size()); }
  int num_teachers() const { return static_cast<int>(teachers_.size()); }
  int num_nodes() const { return num_nodes_; }
  Role role(int rank) const { return role_[rank]; }
  // Index of `rank` among its role's ranks.
  int index(int rank) const { return index_[rank]; }
  const std::vector<int>& worker_ranks() const { return workers_; }
  const std::vector<int>& server_ranks() const { return servers_; }
  const std::vector<int>& teacher_ranks() const { return teachers_; }
  // The teacher rank that worker `index` sends its pairs to (workers spread over the
  // teachers: index mod T); -1 without teachers.
  int teacher_of_worker(int index) const {
    return teachers_.empty() ? -1 : teachers_[index % teachers_.size()];
  }
  // "worker 2", "server 0", "teacher 1".
  std::string Name(int rank) const;
  int chief_rank() const { return workers_[0]; }
  // One line for the job log: "2 nodes; workers on ranks 0,1,2; servers on ranks 3,7".
  std::string Describe() const;

 private:
  std::vector<Role> role_;
  std::vector<int> index_;
  std::vector<int> workers_;
  std::vector<int> servers_;
  std::vector<int> teachers_;
  int num_nodes_ = 1;
};

}  // namespace moerec

#endif  // MOEREC_SCHEDULER_ROLE_LAYOUT_H_
