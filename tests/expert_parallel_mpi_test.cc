// Expert parallelism over real MPI ranks (mpirun -np 1, 2 and 4): every sparse-expert model
// with its experts spread over the workers computes what the same model with every expert
// replicated computes (forward, backward, 20 training steps), and the global load-balance
// statistics of W workers with batch B are those of one process with batch W B.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "core/gpu/resources.h"
#include "core/optimizer.h"
#include "experts/model.h"
#include "experts/test_util.h"
#include "experts/zoo/sparse_moe.h"
#include "tests/mpi_test_main.h"
#include "worker/dense_sync.h"

namespace moerec {
namespace {

using testing::RandomBatch;

const ModelShape kShape{5, 3, 2};

void AddDims(MlpConfig* m, std::initializer_list<int> dims) {
  for (int d : dims) m->add_dims(d);
}

ExpertPlacementConfig* PlacementOf(ModelConfig* c) {
  if (c->has_topk_moe()) return c->mutable_topk_moe()->mutable_placement();
  if (c->has_smes()) return c->mutable_smes()->mutable_placement();
  return c->mutable_mmoe()->mutable_placement();
}

// The models under test; `experts` chosen so that E does not divide by the worker counts.
std::vector<ModelConfig> Configs(int experts) {
  std::vector<ModelConfig> out;
  ModelConfig topk;
  topk.set_domain_embedding_dim(2);
  TopkMoeConfig* t = topk.mutable_topk_moe();
  t->set_num_experts(experts);
  t->set_top_k(2);
  t->set_capacity_factor(0.75f);  // overflow: some rows dropped
  t->set_balance_weight(0.1f);
  t->set_z_loss_weight(0.01f);
  AddDims(t->mutable_encoder(), {6});
  AddDims(t->mutable_expert(), {5, 4});
  AddDims(t->mutable_tower(), {3});
  out.push_back(topk);
  t->set_top_k(1);
  t->set_capacity_factor(0.0f);  // dropless top-1: some experts get no row
  t->set_drop_policy(TopkMoeConfig::BY_PROBABILITY);
  out.push_back(topk);
  ModelConfig smes;
  smes.set_domain_embedding_dim(2);
  SmesConfig* s = smes.mutable_smes();
  s->set_num_experts(experts);
  s->set_shared_k(2);
  s->set_private_k(1);
  s->set_balance_weight(0.1f);
  AddDims(s->mutable_encoder(), {6});
  AddDims(s->mutable_expert(), {5, 4});
  AddDims(s->mutable_tower(), {3});
  out.push_back(smes);
  ModelConfig mmoe;
  mmoe.set_domain_embedding_dim(2);
  MmoeConfig* m = mmoe.mutable_mmoe();
  m->set_num_experts(experts);
  AddDims(m->mutable_expert(), {5, 4});
  AddDims(m->mutable_tower(), {3});
  out.push_back(mmoe);
  return out;
}

// The MPI communicator with device buffers, as a CUDA-aware transport (NCCL on GPU workers)
// takes them: under host execution a device buffer can be read on the host while host access
// is open, so each exchange opens it around the MPI call. Counts the device exchanges.
class DeviceBufferMpi : public Communicator {
 public:
  DeviceBufferMpi(Communicator* mpi, GpuResources* gpu) : mpi_(mpi), gpu_(gpu) {}
  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  Status AllReduceSum(float* data, int64_t n) override {
    HostAccess open(gpu_);
    return mpi_->AllReduceSum(data, n);
  }
  Status AllReduceSum(double* data, int64_t n) override {
    HostAccess open(gpu_);
    return mpi_->AllReduceSum(data, n);
  }
  Status AllReduceMax(double* data, int64_t n) override {
    HostAccess open(gpu_);
    return mpi_->AllReduceMax(data, n);
  }
  Status AllGather(const std::string& mine, std::vector<std::string>* all) override {
    return mpi_->AllGather(mine, all);
  }
  Status Broadcast(void* data, int64_t bytes, int root) override {
    return mpi_->Broadcast(data, bytes, root);
  }
  Status Barrier() override { return mpi_->Barrier(); }
  Status ExchangeCounts(const std::vector<int64_t>& send_counts,
                        std::vector<int64_t>* recv_counts) override {
    return mpi_->ExchangeCounts(send_counts, recv_counts);
  }
  Status AllToAll(const float* send, float* recv, int64_t count) override {
    return Exchange([&] { return mpi_->AllToAll(send, recv, count); });
  }
  Status AllToAll(const int32_t* send, int32_t* recv, int64_t count) override {
    return Exchange([&] { return mpi_->AllToAll(send, recv, count); });
  }
  Status AllToAll(const int64_t* send, int64_t* recv, int64_t count) override {
    return Exchange([&] { return mpi_->AllToAll(send, recv, count); });
  }
  Status AllToAllV(const float* send, const std::vector<int64_t>& sc,
                   const std::vector<int64_t>& sd, float* recv, const std::vector<int64_t>& rc,
                   const std::vector<int64_t>& rd) override {
    return Exchange([&] { return mpi_->AllToAllV(send, sc, sd, recv, rc, rd); });
  }
  Status AllToAllV(const int32_t* send, const std::vector<int64_t>& sc,
                   const std::vector<int64_t>& sd, int32_t* recv, const std::vector<int64_t>& rc,
                   const std::vector<int64_t>& rd) override {
    return Exchange([&] { return mpi_->AllToAllV(send, sc, sd, recv, rc, rd); });
  }
  Status AllToAllV(const int64_t* send, const std::vector<int64_t>& sc,
                   const std::vector<int64_t>& sd, int64_t* recv, const std::vector<int64_t>& rc,
                   const std::vector<int64_t>& rd) override {
    return Exchange([&] { return mpi_->AllToAllV(send, sc, sd, recv, rc, rd); });
  }
  int exchanges() const { return exchanges_; }

 private:
  template <typename Call>
  Status Exchange(const Call& call) {
    ++exchanges_;
    HostAccess open(gpu_);
    return call();
  }
  Communicator* const mpi_;
  GpuResources* const gpu_;
  int exchanges_ = 0;
};

class ExpertParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto comm = MpiCommunicator::Create(MPI_COMM_WORLD, /*owned=*/false);
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
  }

  std::unique_ptr<Model> Make(ModelConfig c, ExpertPlacementConfig::Kind kind,
                              Communicator* device_workers = nullptr) {
    PlacementOf(&c)->set_kind(kind);
    // MMoE's dense routing exists as a sparse model only with a placement: its replicated
    // reference is the same model placed CONTIGUOUS on one process (SparseMoe over Self).
    ModelContext context{comm_.get()};
    context.device_workers = device_workers;
    auto model = CreateModel(c, kShape, 17, context);
    EXPECT_TRUE(model.ok()) << model.status();
    return std::move(model).value();
  }

  // This rank's rows per domain: rank 1 of 4 gets none (a worker with an empty slice).
  std::vector<int64_t> RowsOf(int rank) const {
    if (comm_->size() == 4 && rank == 1) return {0, 0, 0};
    return {3 + rank, 2, 4 - rank % 2};
  }

  void ExpectGpuWorkersComputeWhatCpuWorkersCompute(bool device_exchange);

  std::unique_ptr<MpiCommunicator> comm_;
};

void ExpectClose(const float* a, const float* b, int64_t n, double tol, const std::string& what) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::fabs(a[i] - b[i]) > tol * std::max(1.0, std::fabs(static_cast<double>(b[i]))) &&
        bad++ < 3) {
      ADD_FAILURE() << what << "[" << i << "]: " << a[i] << " vs " << b[i];
    }
  }
}

// Sums every replicated parameter's gradient over the workers (what DenseSync does).
void AllReduceReplicated(Communicator* comm, ParameterSet* params) {
  for (const auto& p : params->params()) {
    if (p->is_buffer || p->expert_local) continue;
    ASSERT_TRUE(comm->AllReduceSum(p->grad.data(), p->grad.size()).ok());
  }
}

TEST_F(ExpertParallelTest, ForwardAndBackwardEqualTheReplicatedModel) {
  const int w = comm_->size(), rank = comm_->rank();
  for (const int experts : {5, 3}) {
    for (const ModelConfig& c : Configs(experts)) {
      for (const auto kind :
           {ExpertPlacementConfig::CONTIGUOUS, ExpertPlacementConfig::ROUND_ROBIN}) {
        SCOPED_TRACE(c.ShortDebugString() + " " + ExpertPlacementConfig::Kind_Name(kind));
        // The reference: every expert here (REPLICATED; MMoE: one-process placement).
        std::unique_ptr<Model> ref;
        if (c.has_mmoe()) {
          ModelConfig one = c;
          PlacementOf(&one)->set_kind(ExpertPlacementConfig::CONTIGUOUS);
          auto made = CreateModel(one, kShape, 17, ModelContext{});
          ASSERT_TRUE(made.ok());
          ref = std::move(made).value();
        } else {
          ref = Make(c, ExpertPlacementConfig::REPLICATED);
        }
        auto ep = Make(c, kind);
        // Expert memory: this rank holds its share of the experts only.
        int64_t held = 0;
        for (const auto& p : ep->params()->params()) held += p->expert_local ? p->value.size() : 0;
        const int mine =
            static_cast<int>(ExpertPlacement(experts, w, kind).experts_of(rank).size());
        int64_t want = 0;
        for (const auto& p : ref->params()->params()) {
          if (p->name.rfind("experts.", 0) == 0) want += p->value.size();
        }
        EXPECT_EQ(held * experts, want * mine) << "expert parameters held here";

        RandomBatch b(kShape, RowsOf(rank), 100 + rank);
        b.batch.seed = 5;
        Tensor l_ref({std::max<int64_t>(b.batch.size, 1), 2}),
            l_ep({std::max<int64_t>(b.batch.size, 1), 2});
        ref->params()->ZeroGrad();
        ep->params()->ZeroGrad();
        ref->Forward(b.batch, l_ref.view().Rows(0, b.batch.size));
        ep->Forward(b.batch, l_ep.view().Rows(0, b.batch.size));
        ExpectClose(l_ep.data(), l_ref.data(), b.batch.size * 2, 1e-5, "logits");
        EXPECT_NEAR(ep->AuxLoss(), ref->AuxLoss(), 1e-9);
        const ConstMatView r(b.r.data(), b.batch.size, 2, 2);
        Tensor df_ref({std::max<int64_t>(b.batch.size, 1), 5}),
            df_ep({std::max<int64_t>(b.batch.size, 1), 5});
        ref->Backward(b.batch, r, df_ref.view().Rows(0, b.batch.size));
        ep->Backward(b.batch, r, df_ep.view().Rows(0, b.batch.size));
        ExpectClose(df_ep.data(), df_ref.data(), b.batch.size * 5, 1e-5, "dfeatures");
        // Replicated gradients summed over the workers; an expert's complete at its owner.
        AllReduceReplicated(comm_.get(), ref->params());
        AllReduceReplicated(comm_.get(), ep->params());
        if (c.has_mmoe()) {
          // The one-process reference sums nothing: sum its expert gradients too.
          for (const auto& p : ref->params()->params()) {
            if (p->expert_local) {
              ASSERT_TRUE(comm_->AllReduceSum(p->grad.data(), p->grad.size()).ok());
            }
          }
        }
        for (const auto& p : ep->params()->params()) {
          const Parameter* q = ref->params()->Find(p->name);
          ASSERT_NE(q, nullptr) << p->name;
          if (p->is_buffer) continue;
          ExpectClose(p->grad.data(), q->grad.data(), p->grad.size(), 1e-5, p->name);
        }
      }
    }
  }
}

// GPU workers (host execution) with their experts spread over the ranks compute what CPU workers
// compute: without a device exchange the expert dispatch stages device rows through the host
// for the MPI all-to-all; with one (NCCL on GPUs; here MPI reading device buffers under host
// access) the rows are packed, exchanged and unpacked on the devices.
void ExpertParallelTest::ExpectGpuWorkersComputeWhatCpuWorkersCompute(bool device_exchange) {
  GpuResourcesOptions options;
  options.host_execution = true;
  auto gpu = GpuResources::Create(options);
  if (!gpu.ok()) GTEST_SKIP() << gpu.status().ToString();
  DeviceBufferMpi exchange(comm_.get(), gpu->get());
  const int rank = comm_->rank();
  for (const ModelConfig& c : Configs(5)) {
    for (const auto kind :
         {ExpertPlacementConfig::CONTIGUOUS, ExpertPlacementConfig::ROUND_ROBIN}) {
      SCOPED_TRACE(c.ShortDebugString() + " " + ExpertPlacementConfig::Kind_Name(kind));
      auto cpu = Make(c, kind);
      std::unique_ptr<Model> dev;
      {
        DeviceScope on_device(gpu->get());
        dev = Make(c, kind, device_exchange ? &exchange : nullptr);
      }
      RandomBatch b(kShape, RowsOf(rank), 200 + rank);
      b.batch.seed = 5;
      b.batch.training = true;
      const int64_t rows = std::max<int64_t>(b.batch.size, 1);
      // The device batch: features and domains on the device, the domain blocks on the host.
      const Tensor features = b.features.To(gpu->get());
      Tensor domain({rows}, gpu->get());
      (*gpu)->CopySync(domain.data(), b.domain.data(), b.batch.size * sizeof(int32_t),
                       GpuResources::kHostToDevice);
      ModelBatch db = b.batch;
      db.features = ConstMatView(features.data(), b.batch.size, 5, 5, gpu->get());
      db.domain = reinterpret_cast<const int32_t*>(domain.data());
      Tensor l_cpu({rows, 2}), l_dev({rows, 2}, gpu->get());
      cpu->params()->ZeroGrad();
      dev->params()->ZeroGrad();
      cpu->Forward(b.batch, l_cpu.view().Rows(0, b.batch.size));
      {
        DeviceScope on_device(gpu->get());
        dev->Forward(db, l_dev.view().Rows(0, b.batch.size));
      }
      ExpectClose(l_dev.To(nullptr).data(), l_cpu.data(), b.batch.size * 2, 1e-5, "logits");
      EXPECT_NEAR(dev->AuxLoss(), cpu->AuxLoss(), 1e-7);
      const Tensor r = b.r.To(gpu->get());
      Tensor df_cpu({rows, 5}), df_dev({rows, 5}, gpu->get());
      cpu->Backward(b.batch, ConstMatView(b.r.data(), b.batch.size, 2, 2),
                    df_cpu.view().Rows(0, b.batch.size));
      {
        DeviceScope on_device(gpu->get());
        dev->Backward(db, ConstMatView(r.data(), b.batch.size, 2, 2, gpu->get()),
                      df_dev.view().Rows(0, b.batch.size));
      }
      ExpectClose(df_dev.To(nullptr).data(), df_cpu.data(), b.batch.size * 5, 1e-5, "dfeatures");
      for (const auto& p : dev->params()->params()) {
        if (p->is_buffer) continue;
        const Parameter* q = cpu->params()->Find(p->name);
        ASSERT_NE(q, nullptr) << p->name;
        ExpectClose(p->grad.To(nullptr).data(), q->grad.data(), p->grad.size(), 1e-5, p->name);
      }
    }
  }
  // The rows went over the device exchange (four moves per model and placement), or not at all.
  if (comm_->size() > 1) {
    EXPECT_EQ(exchange.exchanges() > 0, device_exchange);
  }
}

TEST_F(ExpertParallelTest, GpuWorkersComputeWhatCpuWorkersCompute) {
  ExpectGpuWorkersComputeWhatCpuWorkersCompute(/*device_exchange=*/false);
}

TEST_F(ExpertParallelTest, GpuWorkersWithADeviceExchangeComputeWhatCpuWorkersCompute) {
  ExpectGpuWorkersComputeWhatCpuWorkersCompute(/*device_exchange=*/true);
}

// f and p of the balance loss are the cluster's: W workers with batch B give the loss (summed
// over the workers) and the router gradient (all-reduced) of one process with all W B rows.
TEST_F(ExpertParallelTest, GlobalBalanceStatisticsEqualOneProcessWithTheGlobalBatch) {
  const int w = comm_->size(), rank = comm_->rank();
  int compared = 0;
  for (const ModelConfig& c : Configs(5)) {
    if (c.has_mmoe()) continue;  // no balance loss
    // Capacity is per worker batch, which differs from the global one: dropless only.
    if (c.has_topk_moe() && c.topk_moe().capacity_factor() > 0.0f) continue;
    SCOPED_TRACE(c.ShortDebugString());
    auto dist = Make(c, ExpertPlacementConfig::CONTIGUOUS);
    // The global batch: every rank's rows, domain by domain (the model sees sorted domains).
    std::vector<int64_t> all_rows(3, 0);
    for (int q = 0; q < w; ++q) {
      for (int d = 0; d < 3; ++d) all_rows[d] += RowsOf(q)[d];
    }
    RandomBatch mine(kShape, RowsOf(rank), 100 + rank);
    RandomBatch global(kShape, all_rows, 1);
    // Copy each rank's rows into the global batch at its place within each domain.
    for (int d = 0, g = 0; d < 3; ++d) {
      for (int q = 0; q < w; ++q) {
        RandomBatch part(kShape, RowsOf(q), 100 + q);
        for (int64_t i = part.batch.domain_begin[d]; i < part.batch.domain_begin[d + 1]; ++i, ++g) {
          for (int j = 0; j < 5; ++j) global.features.at(g, j) = part.features.at(i, j);
          for (int t = 0; t < 2; ++t) global.r.at(g, t) = part.r.at(i, t);
        }
      }
    }
    ModelConfig one = c;
    PlacementOf(&one)->set_kind(ExpertPlacementConfig::REPLICATED);
    auto single = CreateModel(one, kShape, 17, ModelContext{});
    ASSERT_TRUE(single.ok());
    Tensor l1({std::max<int64_t>(mine.batch.size, 1), 2}), l2({global.batch.size, 2});
    mine.batch.seed = global.batch.seed = 3;
    dist->params()->ZeroGrad();
    (*single)->params()->ZeroGrad();
    dist->Forward(mine.batch, l1.view().Rows(0, mine.batch.size));
    (*single)->Forward(global.batch, l2.view());
    double aux = dist->AuxLoss();
    ASSERT_TRUE(comm_->AllReduceSum(&aux, 1).ok());
    EXPECT_NEAR(aux, (*single)->AuxLoss(), 1e-7);
    dist->Backward(mine.batch, ConstMatView(mine.r.data(), mine.batch.size, 2, 2), MatView{});
    (*single)->Backward(global.batch, global.r.view(), MatView{});
    AllReduceReplicated(comm_.get(), dist->params());
    const Parameter* a = dist->params()->Find("router.w");
    const Parameter* b = (*single)->params()->Find("router.w");
    ExpectClose(a->grad.data(), b->grad.data(), a->grad.size(), 1e-5, "router gradient");
    ++compared;
  }
  EXPECT_EQ(compared, 2) << "dropless top-1 and SMES";
}

// 20 Adam steps through DenseSync: expert-parallel and replicated give the same losses.
TEST_F(ExpertParallelTest, TwentyTrainingStepsMatchTheReplicatedModel) {
  const int rank = comm_->rank();
  for (const ModelConfig& c : Configs(5)) {
    if (c.has_mmoe()) continue;
    SCOPED_TRACE(c.ShortDebugString());
    std::unique_ptr<Model> models[2] = {Make(c, ExpertPlacementConfig::REPLICATED),
                                        Make(c, ExpertPlacementConfig::ROUND_ROBIN)};
    std::unique_ptr<DenseOptimizer> opt[2];
    std::unique_ptr<DenseSync> sync[2];
    for (int k = 0; k < 2; ++k) {
      DenseOptimizerOptions o;
      o.learning_rate = 0.01f;
      auto made = DenseOptimizer::Create(o, models[k]->params());
      ASSERT_TRUE(made.ok());
      opt[k] = std::move(made).value();
      sync[k] = std::make_unique<DenseSync>(comm_.get(), models[k]->params());
      ASSERT_TRUE(sync[k]->BroadcastParameters().ok());
    }
    for (int step = 0; step < 20; ++step) {
      RandomBatch b(kShape, RowsOf(rank), 1000 * step + rank);
      b.batch.seed = step;
      double loss[2];
      for (int k = 0; k < 2; ++k) {
        Tensor logits({std::max<int64_t>(b.batch.size, 1), 2});
        models[k]->params()->ZeroGrad();
        models[k]->Forward(b.batch, logits.view().Rows(0, b.batch.size));
        loss[k] = testing::Dot(logits.view().Rows(0, b.batch.size), b.r) + models[k]->AuxLoss();
        ASSERT_TRUE(comm_->AllReduceSum(&loss[k], 1).ok());
        models[k]->Backward(b.batch, ConstMatView(b.r.data(), b.batch.size, 2, 2), MatView{});
        ASSERT_TRUE(sync[k]->AllReduceGradients().ok());
        opt[k]->Step();
      }
      EXPECT_NEAR(loss[1], loss[0], 1e-5 * std::max(1.0, std::fabs(loss[0]))) << "step " << step;
    }
  }
}

// A forward sends each row routed to another worker's expert once (its 6 hidden floats) and
// gets its 4 output floats back (summed over the cluster: an owner returns what it received);
// the count exchange adds max-local counts per peer.
TEST_F(ExpertParallelTest, DispatchBytesAreTheRoutingMinimum) {
  const int w = comm_->size();
  for (const auto kind : {ExpertPlacementConfig::CONTIGUOUS, ExpertPlacementConfig::ROUND_ROBIN}) {
    auto ep = Make(Configs(5)[0], kind);
    RandomBatch b(kShape, RowsOf(comm_->rank()), 7);
    Tensor logits({std::max<int64_t>(b.batch.size, 1), 2});
    ep->Forward(b.batch, logits.view().Rows(0, b.batch.size));
    const ExpertDispatch& d = static_cast<const SparseMoeModel*>(ep.get())->dispatch();
    EXPECT_EQ(d.count_bytes(), int64_t{w - 1} * d.placement().max_local() * 8);
    // Over the cluster: what left the workers is what the routing sent away, both ways.
    double sums[2] = {static_cast<double>(d.bytes_to_others()),
                      static_cast<double>(d.rows_to_others())};
    ASSERT_TRUE(comm_->AllReduceSum(sums, 2).ok());
    const double remote = sums[1];
    EXPECT_EQ(sums[0], remote * (6 + 4) * 4);
    if (w == 1) {
      EXPECT_EQ(remote, 0.0);
    } else {
      EXPECT_GT(remote, 0.0) << "some rows must leave their worker";
    }
  }
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
