// The parameter server over real MPI ranks: W workers and P servers (mpirun -np W + P). Pulls
// and pushes through the servers must equal, bit for bit, an in-process reference store that
// applies each step's gradients summed over the workers in worker order (BSP); evaluation pulls
// create nothing; a malformed message is refused without harming the server; snapshots are
// collective.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/random.h"
#include "embedding/table_spec.h"
#include "ps/client.h"
#include "ps/local_store.h"
#include "ps/server.h"
#include "tests/mpi_test_main.h"

namespace moerec {
namespace {

constexpr int kWorkers = 2;

std::vector<TableSpec> Tables() {
  std::vector<TableSpec> specs(3);
  specs[0].name = "users";
  specs[0].dim = 8;
  specs[0].optimizer.set_type(RowOptimizerConfig::ADAGRAD);
  specs[0].optimizer.set_learning_rate(0.1f);
  specs[1].name = "items";
  specs[1].dim = 4;
  specs[1].optimizer.set_type(RowOptimizerConfig::ADAM);
  specs[1].optimizer.set_learning_rate(0.01f);
  specs[2].name = "ctx";
  specs[2].dim = 3;
  specs[2].optimizer.set_type(RowOptimizerConfig::FTRL);
  specs[2].optimizer.set_learning_rate(0.05f);
  specs[2].optimizer.set_l1(0.001f);
  for (auto& s : specs) {
    s.seed = 3;
    s.name_hash = StableHash(s.name);
    s.optimizer.set_epsilon(1e-8f);
  }
  return specs;
}

// The keys and gradients worker w uses at step t: a pure function of (w, t).
std::vector<TableRequest> StepRequests(const std::vector<TableSpec>& specs, int w, int64_t t,
                                       bool with_grads) {
  std::vector<TableRequest> reqs(specs.size());
  Rng rng(HashCombine(static_cast<uint64_t>(w), static_cast<uint64_t>(t)));
  for (size_t k = 0; k < specs.size(); ++k) {
    std::set<uint64_t> keys;
    const int n = 5 + static_cast<int>(rng.Below(40));
    while (static_cast<int>(keys.size()) < n) keys.insert(rng.Below(60));  // heavy overlap
    reqs[k].table = static_cast<int>(k);
    reqs[k].keys.assign(keys.begin(), keys.end());
    reqs[k].values.resize(keys.size() * specs[k].dim);
    if (with_grads) {
      for (float& g : reqs[k].values) g = static_cast<float>(rng.Normal() * 0.1);
    }
  }
  return reqs;
}

// The reference: every step, all workers' gradients summed per key in worker order.
void ReferenceStep(LocalStore* ref, const std::vector<TableSpec>& specs, int64_t t) {
  std::vector<TableRequest> sum(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) sum[k].table = static_cast<int>(k);
  for (int w = 0; w < kWorkers; ++w) {
    std::vector<TableRequest> g = StepRequests(specs, w, t, true);
    for (size_t k = 0; k < specs.size(); ++k) {
      const int dim = specs[k].dim;
      for (size_t i = 0; i < g[k].keys.size(); ++i) {
        auto it = std::find(sum[k].keys.begin(), sum[k].keys.end(), g[k].keys[i]);
        if (it == sum[k].keys.end()) {
          sum[k].keys.push_back(g[k].keys[i]);
          sum[k].values.insert(sum[k].values.end(), g[k].values.begin() + i * dim,
                               g[k].values.begin() + (i + 1) * dim);
        } else {
          float* dst = sum[k].values.data() + (it - sum[k].keys.begin()) * dim;
          for (int j = 0; j < dim; ++j) dst[j] += g[k].values[i * dim + j];
        }
      }
    }
  }
  // Rows are created by the workers' training pulls before their pushes.
  for (int w = 0; w < kWorkers; ++w) {
    std::vector<TableRequest> pull = StepRequests(specs, w, t, false);
    ASSERT_TRUE(ref->Wait(ref->Pull(&pull, t, true)).ok());
  }
  ASSERT_TRUE(ref->Wait(ref->Push(&sum, t)).ok());
}

class PsMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    ASSERT_GE(size_, kWorkers + 1) << "run with mpirun -np >= 3";
    servers_ = size_ - kWorkers;
    for (int w = 0; w < kWorkers; ++w) worker_ranks_.push_back(w);
    for (int s = 0; s < servers_; ++s) server_ranks_.push_back(kWorkers + s);
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
  }
  void TearDown() override { MPI_Comm_free(&comm_); }

  bool is_worker() const { return rank_ < kWorkers; }

  void RunServer(ClusterConfig::SyncMode sync) {
    auto store = RowStore::Open(Tables());
    ASSERT_TRUE(store.ok());
    PsServer::Options o;
    o.server_index = rank_ - kWorkers;
    o.num_servers = servers_;
    o.worker_ranks = worker_ranks_;
    o.sync = sync;
    auto server = PsServer::Create(std::move(store).value(), o, comm_);
    ASSERT_TRUE(server.ok());
    Status s = (*server)->Run();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<PsClient> Client() {
    PsClient::Options o;
    o.worker_index = rank_;
    o.server_ranks = server_ranks_;
    return PsClient::Create(Tables(), o, comm_).value();
  }

  int rank_ = 0, size_ = 0, servers_ = 0;
  std::vector<int> worker_ranks_, server_ranks_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

TEST_F(PsMpiTest, BspPullsAndPushesEqualTheSingleProcessReference) {
  if (!is_worker()) return RunServer(ClusterConfig::BSP);
  const auto specs = Tables();
  auto client = Client();
  auto ref = LocalStore::Open(specs).value();
  constexpr int kSteps = 25;
  for (int64_t t = 0; t < kSteps; ++t) {
    std::vector<TableRequest> pulled = StepRequests(specs, rank_, t, false);
    ASSERT_TRUE(client->Wait(client->Pull(&pulled, t, true)).ok());
    // The reference has applied steps < t; its rows must match exactly.
    std::vector<TableRequest> expect = StepRequests(specs, rank_, t, false);
    ASSERT_TRUE(ref->Wait(ref->Pull(&expect, t, false)).ok());
    for (size_t k = 0; k < specs.size(); ++k) {
      ASSERT_EQ(pulled[k].values, expect[k].values) << "table " << k << " step " << t;
    }
    std::vector<TableRequest> grads = StepRequests(specs, rank_, t, true);
    ASSERT_TRUE(client->Wait(client->Push(&grads, t)).ok());
    ReferenceStep(ref.get(), specs, t);
  }
  // Evaluation pulls of never-seen keys create no rows on the servers.
  std::vector<TableRequest> fresh(1);
  fresh[0].table = 0;
  fresh[0].keys = {1000001, 1000002};
  fresh[0].values.resize(16);
  ASSERT_TRUE(client->Wait(client->Pull(&fresh, kSteps, false)).ok());
  std::vector<float> init(8);
  InitRow(specs[0], 1000001, init.data());
  EXPECT_EQ(std::vector<float>(fresh[0].values.begin(), fresh[0].values.begin() + 8), init);
  int64_t rows = 0;
  for (int s = 0; s < servers_; ++s) rows += client->ServerStats(s)->stats(0).rows();
  EXPECT_EQ(rows, ref->rows()->stats(0).rows);
  // The store's statistics: every server's, summed per table.
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->tables.size(), specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    const TableStats expect = ref->rows()->stats(static_cast<int>(k));
    EXPECT_EQ(stats->tables[k].rows, expect.rows) << "table " << k;
    EXPECT_EQ(stats->tables[k].resident_rows, expect.resident_rows) << "table " << k;
  }
  ASSERT_TRUE(client->Shutdown(kSteps).ok());
}

TEST_F(PsMpiTest, MalformedMessagesAreRefusedAndTheServerGoesOn) {
  if (!is_worker()) return RunServer(ClusterConfig::BSP);
  auto client = Client();
  if (rank_ == 0) {
    // Garbage, then a valid-looking frame naming a table that does not exist.
    const char junk[] = "this is not a moerec message";
    MPI_Send(junk, sizeof(junk), MPI_BYTE, server_ranks_[0], kPsRequestTag, comm_);
    MPI_Message msg;
    MPI_Status st;
    MPI_Mprobe(server_ranks_[0], MPI_ANY_TAG, comm_, &msg, &st);
    int bytes = 0;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    std::vector<uint64_t> buf((bytes + 7) / 8);
    MPI_Mrecv(buf.data(), bytes, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    PsReply reply;
    std::vector<SliceView> rows;
    ASSERT_TRUE(DecodeReply(std::string_view(reinterpret_cast<char*>(buf.data()), bytes), 0, {},
                            &reply, &rows)
                    .ok());
    EXPECT_EQ(reply.code(), static_cast<int>(StatusCode::kInvalidArgument));
    EXPECT_NE(reply.error().find("magic"), std::string::npos) << reply.error();

    // Requests the client refuses before sending: the in-process store refuses them with
    // the same status.
    auto local = LocalStore::Open(Tables()).value();
    std::vector<TableRequest> bad_table(1), bad_buffer(1);
    bad_table[0].table = 7;
    bad_buffer[0].keys = {1, 2, 3};
    bad_buffer[0].values.resize(5);  // 3 keys of dim 8 need 24 floats
    for (std::vector<TableRequest>* bad : {&bad_table, &bad_buffer}) {
      const Status remote = client->Wait(client->Pull(bad, 0, true));
      EXPECT_EQ(remote.code(), StatusCode::kInvalidArgument) << remote;
      EXPECT_EQ(local->Wait(local->Pull(bad, 0, true)).ToString(), remote.ToString());
      EXPECT_EQ(local->Wait(local->Push(bad, 0)).ToString(),
                client->Wait(client->Push(bad, 0)).ToString());
    }
  }
  // The servers still serve everyone.
  const auto specs = Tables();
  std::vector<TableRequest> ok = StepRequests(specs, rank_, 0, false);
  Status s = client->Wait(client->Pull(&ok, 0, true));
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<TableRequest> g = StepRequests(specs, rank_, 0, true);
  EXPECT_TRUE(client->Wait(client->Push(&g, 0)).ok());
  ASSERT_TRUE(client->Shutdown(1).ok());
}

TEST_F(PsMpiTest, SnapshotIsCollectiveAndRestoresEveryRow) {
  if (!is_worker()) return RunServer(ClusterConfig::ASP);
  const auto specs = Tables();
  auto client = Client();
  std::vector<TableRequest> before = StepRequests(specs, rank_, 0, false);
  ASSERT_TRUE(client->Wait(client->Pull(&before, 0, true)).ok());
  ASSERT_TRUE(client->SaveSnapshot().ok());
  std::vector<TableRequest> g = StepRequests(specs, rank_, 0, true);
  ASSERT_TRUE(client->Wait(client->Push(&g, 1)).ok());
  ASSERT_TRUE(client->RestoreSnapshot().ok());
  std::vector<TableRequest> after = StepRequests(specs, rank_, 0, false);
  ASSERT_TRUE(client->Wait(client->Pull(&after, 2, false)).ok());
  for (size_t k = 0; k < specs.size(); ++k) EXPECT_EQ(after[k].values, before[k].values);
  ASSERT_TRUE(client->Shutdown(3).ok());
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
