#include "scheduler/role_layout.h"

#include <algorithm>
#include <map>

namespace moerec {
namespace {

std::string JoinRanks(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? "," : "") + std::to_string(ranks[i]);
  return out.empty() ? "-" : out;
}

// Ranks grouped by node, nodes in the order of their lowest rank, ranks ascending.
std::vector<std::vector<int>> GroupByNode(const ClusterConfig& cluster, int world_size,
                                          const std::vector<int>& node_of_rank) {
  std::vector<std::vector<int>> nodes;
  std::map<int, size_t> slot;
  for (int r = 0; r < world_size; ++r) {
    int node = 0;
    if (cluster.ranks_per_node() > 0) {
      node = r / cluster.ranks_per_node();
    } else if (!node_of_rank.empty()) {
      node = node_of_rank[r];
    }
    auto [it, inserted] = slot.emplace(node, nodes.size());
    if (inserted) nodes.emplace_back();
    nodes[it->second].push_back(r);
  }
  return nodes;
}

// P server ranks spread round-robin over the nodes, each node giving its highest free rank.
std::vector<int> SpreadServers(const std::vector<std::vector<int>>& nodes, int p) {
  std::vector<int> servers;
  std::vector<size_t> used(nodes.size(), 0);
  while (static_cast<int>(servers.size()) < p) {
    for (size_t n = 0; n < nodes.size() && static_cast<int>(servers.size()) < p; ++n) {
      if (used[n] == nodes[n].size()) continue;
      servers.push_back(nodes[n][nodes[n].size() - 1 - used[n]]);
      ++used[n];
    }
  }
  std::sort(servers.begin(), servers.end());
  return servers;
}

}  // namespace

StatusOr<RoleLayout> RoleLayout::Create(const ClusterConfig& cluster, int world_size,
                                        const std::vector<int>& node_of_rank) {
  const int w = cluster.num_workers();
  const int p = cluster.num_servers();
  const int t = cluster.num_teachers();
  if (w < 1) return InvalidArgument("cluster.num_workers: must be >= 1, got " + std::to_string(w));
  if (p < 0) return InvalidArgument("cluster.num_servers: must be >= 0, got " + std::to_string(p));
  if (t < 0) return InvalidArgument("cluster.num_teachers: must be >= 0, got " + std::to_string(t));
  if (w + p + t != world_size) {
    return InvalidArgument("cluster: " + std::to_string(w) + " workers + " + std::to_string(p) +
                           " servers" + (t > 0 ? " + " + std::to_string(t) + " teachers" : "") +
                           " = " + std::to_string(w + p + t) + " ranks, but the job has " +
                           std::to_string(world_size) + " (mpirun -np / srun -n must match)");
  }
  if (!node_of_rank.empty() && static_cast<int>(node_of_rank.size()) != world_size) {
    return InvalidArgument("role layout: node map has " + std::to_string(node_of_rank.size()) +
                           " ranks, the job " + std::to_string(world_size));
  }
  auto check_list = [&](const google::protobuf::RepeatedField<int32_t>& listed, int count,
                        const char* field, const char* count_field) -> Status {
    if (!listed.empty() && listed.size() != count) {
      return InvalidArgument(std::string(field) + ": lists " + std::to_string(listed.size()) +
                             " ranks; give none or " + count_field + " (" + std::to_string(count) +
                             ")");
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(
      check_list(cluster.worker_ranks(), w, "cluster.worker_ranks", "cluster.num_workers"));
  RETURN_IF_ERROR(
      check_list(cluster.server_ranks(), p, "cluster.server_ranks", "cluster.num_servers"));

  RoleLayout layout;
  const std::vector<std::vector<int>> nodes = GroupByNode(cluster, world_size, node_of_rank);
  layout.num_nodes_ = static_cast<int>(nodes.size());
  layout.role_.assign(world_size, Role::kWorker);
  layout.index_.assign(world_size, -1);
  std::vector<bool> taken(world_size, false);
  auto place = [&](const std::vector<int>& ranks, Role role, const char* field,
                   std::vector<int>* out) -> Status {
    for (size_t i = 0; i < ranks.size(); ++i) {
      const int rank = ranks[i];
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
      layout.index_[rank] = static_cast<int>(i);
      out->push_back(rank);
    }
    return Status::OK();
  };
  auto remaining = [&](int count) {
    std::vector<int> ranks;
    for (int r = 0; r < world_size && static_cast<int>(ranks.size()) < count; ++r) {
      if (!taken[r]) ranks.push_back(r);
    }
    return ranks;
  };
  const std::vector<int> listed_workers(cluster.worker_ranks().begin(),
                                        cluster.worker_ranks().end());
  const std::vector<int> listed_servers(cluster.server_ranks().begin(),
                                        cluster.server_ranks().end());
  if (!listed_workers.empty()) {
    RETURN_IF_ERROR(place(listed_workers, Role::kWorker, "cluster.worker_ranks", &layout.workers_));
    RETURN_IF_ERROR(place(listed_servers.empty() ? remaining(p) : listed_servers, Role::kServer,
                          "cluster.server_ranks", &layout.servers_));
  } else {
    RETURN_IF_ERROR(place(listed_servers.empty() ? SpreadServers(nodes, p) : listed_servers,
                          Role::kServer, "cluster.server_ranks", &layout.servers_));
    RETURN_IF_ERROR(place(remaining(w), Role::kWorker, "cluster.worker_ranks", &layout.workers_));
  }
  RETURN_IF_ERROR(place(remaining(t), Role::kTeacher, "cluster.num_teachers", &layout.teachers_));
  return layout;
}

std::string RoleLayout::Name(int rank) const {
  const char* role = role_[rank] == Role::kWorker   ? "worker "
                     : role_[rank] == Role::kServer ? "server "
                                                    : "teacher ";
  return role + std::to_string(index_[rank]);
}

std::string RoleLayout::Describe() const {
  return std::to_string(num_nodes_) + (num_nodes_ == 1 ? " node" : " nodes") +
         "; workers on ranks " + JoinRanks(workers_) + "; servers on ranks " + JoinRanks(servers_) +
         (teachers_.empty() ? "" : "; teachers on ranks " + JoinRanks(teachers_));
}

}  // namespace moerec
