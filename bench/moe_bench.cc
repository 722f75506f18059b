#include "bench/moe_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/optimizer.h"
#include "core/parallel.h"
#include "core/random.h"
#include "experts/model.h"
#include "experts/zoo/sparse_moe.h"
#include "worker/dense_sync.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr int kFeatures = 128, kHidden = 256, kOut = 128, kDomains = 3, kTasks = 2;

struct StepBatch {
  Tensor features, r;
  std::vector<int32_t> domain;
  ModelBatch batch;
};

void MakeBatch(int64_t rows, uint64_t seed, StepBatch* b) {
  Rng rng(seed);
  b->features.Resize({rows, kFeatures});
  b->r.Resize({rows, kTasks});
  for (int64_t i = 0; i < b->features.size(); ++i)
    b->features[i] = static_cast<float>(rng.Normal());
  for (int64_t i = 0; i < b->r.size(); ++i) b->r[i] = static_cast<float>(rng.Normal()) / rows;
  b->domain.resize(rows);
  b->batch.domain_begin.assign(kDomains + 1, 0);
  for (int d = 0; d < kDomains; ++d) b->batch.domain_begin[d + 1] = rows * (d + 1) / kDomains;
  for (int d = 0; d < kDomains; ++d) {
    for (int64_t i = b->batch.domain_begin[d]; i < b->batch.domain_begin[d + 1]; ++i) {
      b->domain[i] = d;
    }
  }
  b->batch.size = rows;
  b->batch.features = b->features.view();
  b->batch.domain = b->domain.data();
  b->batch.training = true;
}

struct Figures {
  double step = 0, forward_backward = 0, allreduce = 0, optimizer = 0;
  double route = 0, dispatch = 0, experts = 0, combine = 0;
  double bytes = 0, minimum_bytes = 0, count_bytes = 0;
  double expert_bytes = 0, active_experts = 0;
};

StatusOr<Figures> Measure(const MoeBenchOptions& o, ExpertPlacementConfig::Kind kind,
                          Communicator* comm) {
  ModelConfig c;
  TopkMoeConfig* t = c.mutable_topk_moe();
  t->set_num_experts(o.experts);
  t->set_top_k(o.top_k);
  t->mutable_encoder()->add_dims(kHidden);
  t->mutable_expert()->add_dims(kHidden);
  t->mutable_expert()->add_dims(kOut);
  t->mutable_tower()->add_dims(64);
  t->set_capacity_factor(1.25f);
  t->set_balance_weight(0.01f);
  t->mutable_placement()->set_kind(kind);
  ASSIGN_OR_RETURN(auto model,
                   CreateModel(c, ModelShape{kFeatures, kDomains, kTasks}, 7, ModelContext{comm}));
  auto* moe = static_cast<SparseMoeModel*>(model.get());
  DenseOptimizerOptions adam;
  ASSIGN_OR_RETURN(auto optimizer, DenseOptimizer::Create(adam, model->params()));
  DenseSync sync(comm, model->params());
  RETURN_IF_ERROR(sync.BroadcastParameters());
  std::vector<StepBatch> batches(4);
  for (size_t k = 0; k < batches.size(); ++k) {
    MakeBatch(o.batch, HashCombine(comm->rank() + 1, k), &batches[k]);
  }
  Tensor logits({o.batch, kTasks});
  Figures f;
  for (const auto& p : model->params()->params()) {
    if (p->name.rfind("experts.", 0) == 0) f.expert_bytes += 4.0 * p->value.size();
  }
  for (int step = 0; step < o.warmup + o.steps; ++step) {
    if (step == o.warmup) {
      const double expert_bytes = f.expert_bytes;
      f = Figures();
      f.expert_bytes = expert_bytes;
      moe->ClearCounters();
      RETURN_IF_ERROR(comm->Barrier());
    }
    StepBatch& b = batches[step % batches.size()];
    b.batch.seed = step;
    const Clock::time_point t0 = Clock::now();
    model->params()->ZeroGrad();
    model->Forward(b.batch, logits.view());
    model->Backward(b.batch, b.r.view(), MatView{});
    const Clock::time_point t1 = Clock::now();
    RETURN_IF_ERROR(sync.AllReduceGradients());
    const Clock::time_point t2 = Clock::now();
    optimizer->Step();
    const Clock::time_point t3 = Clock::now();
    if (step < o.warmup) continue;
    f.forward_backward += Seconds(t0, t1);
    f.allreduce += Seconds(t1, t2);
    f.optimizer += Seconds(t2, t3);
    f.step += Seconds(t0, t3);
    f.minimum_bytes += 4.0 * moe->dispatch().rows_to_others() * (2 * kHidden + 2 * kOut);
    for (const auto& [name, value] : model->Stats()) {
      if (name == "active_experts_mean") f.active_experts += value;
    }
  }
  f.route = moe->route_seconds();
  f.experts = moe->expert_seconds();
  f.dispatch = moe->dispatch().dispatch_seconds();
  f.combine = moe->dispatch().combine_seconds();
  f.bytes = moe->dispatch().bytes_to_others();
  f.count_bytes = moe->dispatch().count_bytes();
  // Per step; times are the slowest rank's, bytes the mean rank's, memory the largest rank's.
  std::vector<double> sums = {f.minimum_bytes, f.bytes, f.count_bytes, f.active_experts};
  RETURN_IF_ERROR(comm->AllReduceSum(sums.data(), static_cast<int64_t>(sums.size())));
  std::vector<double> maxes = {f.step,     f.forward_backward, f.allreduce, f.optimizer,   f.route,
                               f.dispatch, f.experts,          f.combine,   f.expert_bytes};
  RETURN_IF_ERROR(comm->AllReduceMax(maxes.data(), static_cast<int64_t>(maxes.size())));
  const double n = o.steps, w = comm->size();
  Figures out;
  out.minimum_bytes = sums[0] / n / w;
  out.bytes = sums[1] / n / w;
  out.count_bytes = sums[2] / n / w;
  out.active_experts = sums[3] / n / w;
  out.step = maxes[0] / n;
  out.forward_backward = maxes[1] / n;
  out.allreduce = maxes[2] / n;
  out.optimizer = maxes[3] / n;
  out.route = maxes[4] / n;
  out.dispatch = maxes[5] / n;
  out.experts = maxes[6] / n;
  out.combine = maxes[7] / n;
  out.expert_bytes = maxes[8];
  return out;
}

}  // namespace

Status RunMoeBenchmark(const MoeBenchOptions& options, Communicator* workers) {
  if (options.experts < 1 || options.top_k < 1 || options.top_k > options.experts ||
      options.batch < kDomains || options.steps < 1 || options.warmup < 0) {
    return InvalidArgument(
        "bench moe: need experts >= 1, top_k in [1, experts], batch >= 3, "
        "steps >= 1");
  }
  SetComputeThreads(options.threads);
  ASSIGN_OR_RETURN(const Figures rep, Measure(options, ExpertPlacementConfig::REPLICATED, workers));
  ASSIGN_OR_RETURN(const Figures ep, Measure(options, ExpertPlacementConfig::CONTIGUOUS, workers));
  if (workers->rank() != 0) return Status::OK();
  const int w = workers->size();
  auto line = [](const char* name, double value) { std::printf("%s=%.6g\n", name, value); };
  line("workers", w);
  line("experts", options.experts);
  line("top_k", options.top_k);
  line("batch_per_worker", options.batch);
  line("global_batch", static_cast<double>(options.batch) * w);
  line("replicated_step_ms", 1e3 * rep.step);
  line("replicated_allreduce_ms", 1e3 * rep.allreduce);
  line("ep_step_ms", 1e3 * ep.step);
  line("ep_route_ms", 1e3 * ep.route);
  line("ep_dispatch_ms", 1e3 * ep.dispatch);
  line("ep_experts_ms", 1e3 * ep.experts);
  line("ep_combine_ms", 1e3 * ep.combine);
  line("ep_other_forward_backward_ms",
       1e3 * std::max(0.0, ep.forward_backward - ep.route - ep.dispatch - ep.experts - ep.combine));
  line("ep_allreduce_ms", 1e3 * ep.allreduce);
  line("ep_optimizer_ms", 1e3 * ep.optimizer);
  line("replicated_samples_per_sec", options.batch * w / rep.step);
  line("ep_samples_per_sec", options.batch * w / ep.step);
  line("expert_bytes_replicated", rep.expert_bytes);
  line("expert_bytes_per_rank", ep.expert_bytes);
  line("expert_bytes_per_rank_ratio", ep.expert_bytes / rep.expert_bytes);
  line("dispatch_bytes_per_step", ep.bytes + ep.count_bytes);
  line("dispatch_count_bytes_per_step", ep.count_bytes);
  line("routing_min_bytes_per_step", ep.minimum_bytes);
  line("dispatch_bytes_ratio",
       ep.minimum_bytes > 0 ? (ep.bytes + ep.count_bytes) / ep.minimum_bytes : 1.0);
  line("active_experts_per_sample", ep.active_experts);
  line("dense_experts_per_sample", options.experts);
  line("expert_flops_saved", 1.0 - ep.active_experts / options.experts);
  line("ep_step_time_ratio", ep.step / rep.step);
  return Status::OK();
}

}  // namespace moerec
