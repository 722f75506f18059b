#include "scheduler/role_layout.h"

#include <gtest/gtest.h>

namespace moerec {
namespace {

ClusterConfig Cluster(int workers, int servers) {
  ClusterConfig c;
  c.set_num_workers(workers);
  c.set_num_servers(servers);
  return c;
}

TEST(RoleLayoutTest, OneNodePutsWorkersFirstAndServersLast) {
  const RoleLayout layout = RoleLayout::Create(Cluster(3, 2), 5).value();
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{3, 4}));
  EXPECT_EQ(layout.chief_rank(), 0);
  EXPECT_EQ(layout.role(4), Role::kServer);
  EXPECT_EQ(layout.index(4), 1);
  EXPECT_EQ(layout.index(2), 2);
  EXPECT_EQ(layout.num_nodes(), 1);
  EXPECT_EQ(layout.Describe(), "1 node; workers on ranks 0,1,2; servers on ranks 3,4");
}

TEST(RoleLayoutTest, TeachersTakeTheRanksLeftAndServeWorkersInTurn) {
  ClusterConfig c = Cluster(3, 1);
  c.set_num_teachers(2);
  const RoleLayout layout = RoleLayout::Create(c, 6).value();
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{5}));
  EXPECT_EQ(layout.teacher_ranks(), (std::vector<int>{3, 4}));
  EXPECT_EQ(layout.role(4), Role::kTeacher);
  EXPECT_EQ(layout.Name(4), "teacher 1");
  EXPECT_EQ(layout.Name(5), "server 0");
  EXPECT_EQ(layout.teacher_of_worker(0), 3);
  EXPECT_EQ(layout.teacher_of_worker(1), 4);
  EXPECT_EQ(layout.teacher_of_worker(2), 3);
  EXPECT_EQ(layout.Describe(),
            "1 node; workers on ranks 0,1,2; servers on ranks 5; teachers on ranks 3,4");
  const auto wrong = RoleLayout::Create(c, 5);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("3 workers + 1 servers + 2 teachers = 6 ranks"),
            std::string::npos)
      << wrong.status();
  EXPECT_EQ(RoleLayout::Create(Cluster(2, 1), 3).value().teacher_of_worker(0), -1);
}

TEST(RoleLayoutTest, ServersSpreadOverNodesFromRanksPerNode) {
  ClusterConfig c = Cluster(6, 2);
  c.set_ranks_per_node(4);  // nodes {0..3} and {4..7}
  const RoleLayout layout = RoleLayout::Create(c, 8).value();
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{3, 7}));
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{0, 1, 2, 4, 5, 6}));
  EXPECT_EQ(layout.num_nodes(), 2);
  EXPECT_EQ(layout.index(7), 1);
  EXPECT_EQ(layout.index(4), 3);
}

TEST(RoleLayoutTest, MoreServersThanNodesGoRoundRobinAndUnevenNodesWork) {
  // Node labels from MPI need not be dense or sorted; three nodes of 3, 3 and 1 ranks.
  const std::vector<int> node = {42, 42, 42, 7, 7, 7, 99};
  const RoleLayout layout = RoleLayout::Create(Cluster(3, 4), 7, node).value();
  // Round 1 takes 2, 5, 6; round 2 takes 1 (node 99 is used up).
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{1, 2, 5, 6}));
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{0, 3, 4}));
  EXPECT_EQ(layout.num_nodes(), 3);
}

TEST(RoleLayoutTest, RanksPerNodeWinsOverTheDetectedNodes) {
  ClusterConfig c = Cluster(2, 2);
  c.set_ranks_per_node(2);
  const RoleLayout layout = RoleLayout::Create(c, 4, {0, 0, 0, 0}).value();
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{1, 3}));
}

TEST(RoleLayoutTest, ExplicitListsAndTheOtherRoleTakesTheRest) {
  ClusterConfig c = Cluster(2, 2);
  c.add_server_ranks(0);
  c.add_server_ranks(2);
  RoleLayout layout = RoleLayout::Create(c, 4).value();
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{1, 3}));
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{0, 2}));
  EXPECT_EQ(layout.chief_rank(), 1);

  ClusterConfig d = Cluster(2, 2);
  d.add_worker_ranks(3);
  d.add_worker_ranks(1);
  layout = RoleLayout::Create(d, 4).value();
  EXPECT_EQ(layout.worker_ranks(), (std::vector<int>{3, 1}));  // listed order = worker index
  EXPECT_EQ(layout.index(1), 1);
  EXPECT_EQ(layout.server_ranks(), (std::vector<int>{0, 2}));
}

TEST(RoleLayoutTest, BadLayoutsNameTheField) {
  struct Case {
    ClusterConfig cluster;
    int world;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Cluster(2, 1), 4, "2 workers + 1 servers = 3 ranks, but the job has 4"});
  cases.push_back({Cluster(0, 1), 1, "cluster.num_workers: must be >= 1"});
  ClusterConfig out_of_range = Cluster(1, 1);
  out_of_range.add_server_ranks(5);
  cases.push_back({out_of_range, 2, "cluster.server_ranks[0]: rank 5 is not in [0, 2)"});
  ClusterConfig twice = Cluster(1, 1);
  twice.add_worker_ranks(0);
  twice.add_server_ranks(0);
  cases.push_back({twice, 2, "cluster.server_ranks[0]: rank 0 already has a role"});
  ClusterConfig short_list = Cluster(2, 1);
  short_list.add_worker_ranks(0);
  cases.push_back({short_list, 3, "cluster.worker_ranks: lists 1 ranks; give none or"});
  for (const Case& c : cases) {
    const StatusOr<RoleLayout> layout = RoleLayout::Create(c.cluster, c.world);
    ASSERT_FALSE(layout.ok()) << c.message;
    EXPECT_NE(layout.status().message().find(c.message), std::string::npos)
        << layout.status().message();
  }
  EXPECT_FALSE(RoleLayout::Create(Cluster(1, 1), 2, {0}).ok());  // node map of the wrong size
}

}  // namespace
}  // namespace moerec
