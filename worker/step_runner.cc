#include "worker/step_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/activation.h"
#include "core/gpu/resources.h"
#include "core/random.h"
#include "embedding/gpu_row_cache.h"
#include "embedding/table_spec.h"
#include "proto/text_config.h"
#include "worker/task_loss.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

DenseOptimizerOptions DenseOptimizerOptionsFromConfig(const OptimizerConfig& config) {
  DenseOptimizerOptions o;
  switch (config.type()) {
    case OptimizerConfig::ADAM:
      o.type = DenseOptimizerType::kAdam;
      break;
    case OptimizerConfig::ADAMW:
      o.type = DenseOptimizerType::kAdamW;
      break;
    case OptimizerConfig::SGD:
      o.type = DenseOptimizerType::kSgd;
      break;
    case OptimizerConfig::ADAGRAD:
      o.type = DenseOptimizerType::kAdagrad;
      break;
  }
  o.learning_rate = config.learning_rate();
  o.beta1 = config.beta1();
  o.beta2 = config.beta2();
  o.epsilon = config.epsilon();
  o.weight_decay = config.weight_decay();
  o.momentum = config.momentum();
  return o;
}

ModelShape ModelShapeFromConfig(const JobConfig& config) {
  const SparseInput sparse = SparseInput::FromConfig(config);
  ModelShape shape;
  shape.num_features = sparse.num_features();
  shape.num_domains = config.data().num_domains();
  shape.num_tasks = config.data().num_tasks();
  const int data_slots = config.data().slots_size();
  for (int s = 0; s < sparse.num_slots(); ++s) {
    const SlotSpec& spec = config.data().slots(sparse.source(s));
    shape.slot_dims.push_back(sparse.slot_dim(s));
    shape.slot_sides.push_back(spec.side());
    // A teacher's view of a slot is named after its table.
    shape.slot_names.push_back(s < data_slots ? spec.name() : TeacherTableName(config, spec));
  }
  shape.num_teacher_slots = sparse.num_slots() - data_slots;
  shape.num_dense = sparse.num_dense();
  return shape;
}

StepRunner::StepRunner(const JobConfig& config, EmbeddingStore* store, Communicator* workers)
    : config_(config),
      store_(store),
      workers_(workers),
      sparse_(SparseInput::FromConfig(config)),
      early_prefetch_(config.cluster().sync() != ClusterConfig::BSP &&
                      config.cluster().num_servers() > 0) {}

StatusOr<std::unique_ptr<StepRunner>> StepRunner::Create(const JobConfig& config,
                                                         EmbeddingStore* store,
                                                         Communicator* workers,
                                                         TeacherScorer* teacher, GpuResources* gpu,
                                                         Communicator* device_workers) {
  const bool remote_teacher =
      config.model().has_two_tower() && config.model().two_tower().has_distill() &&
      config.model().two_tower().distill().placement() == DistillConfig::TEACHER_RANKS;
  if (remote_teacher && teacher == nullptr) {
    return FailedPrecondition(
        "model.two_tower.distill.placement is TEACHER_RANKS: the teacher runs on teacher ranks of "
        "a distributed job (cluster.num_teachers >= 1, under mpirun or srun); for one process "
        "set placement: ON_WORKERS");
  }
  if (gpu != nullptr && config.model().has_two_tower()) {
    return FailedPrecondition(
        "a GPU worker runs ranking models; the two-tower (matching) model runs on CPU workers");
  }
  std::unique_ptr<StepRunner> r(new StepRunner(config, store, workers));
  ModelContext context;
  context.workers = workers;
  context.device_workers = device_workers;
  context.teacher = remote_teacher ? teacher : nullptr;
  {
    // Every tensor the model makes (parameters, activations, caches) lives on the GPU.
    DeviceScope on_device(gpu);
    ASSIGN_OR_RETURN(r->model_, CreateModel(config.model(), ModelShapeFromConfig(config),
                                            config.train().seed(), context));
  }
  if (gpu != nullptr) {
    r->gpu_ = gpu;
    for (Tensor* t : {&r->device_features_, &r->device_dfeatures_, &r->device_logits_,
                      &r->device_dlogits_, &r->device_domain_}) {
      *t = Tensor({0}, gpu);
    }
    r->device_pool_index_ = Tensor({0}, gpu);
#if MOEREC_HAVE_CUDA
    GpuRowCacheOptions cache;
    cache.capacity_rows = config.cluster().row_cache_rows();
    cache.staleness = config.cluster().row_cache_staleness();
    ASSIGN_OR_RETURN(std::unique_ptr<GpuRowCache> made,
                     GpuRowCache::Create(gpu, store, TableSpecsFromConfig(config), cache));
    r->row_cache_.reset(made.release());
#endif
  }
  // An offline teacher's tables are never pushed to.
  if (config.model().has_two_tower() && config.model().two_tower().has_distill() &&
      config.model().two_tower().distill().mode() == DistillConfig::OFFLINE) {
    const std::vector<TableSpec> specs = TableSpecsFromConfig(config);
    r->fixed_tables_.assign(specs.size(), false);
    for (const SlotSpec& slot : config.data().slots()) {
      const std::string name = TeacherTableName(config, slot);
      for (size_t t = 0; t < specs.size(); ++t) {
        if (specs[t].name == name) r->fixed_tables_[t] = true;
      }
    }
  }
  const ArchitectureConfig& arch = config.train().architecture();
  for (const auto& p : r->model_->params()->params()) {
    if (IsArchitectureParameter(*p)) r->arch_params_.push_back(p.get());
  }
  // JOINT: the main optimizer takes everything; otherwise it leaves them out.
  // Fixed parameters (an offline teacher's) have no optimizer state.
  DenseOptimizer::Filter main_filter = [](const Parameter& p) { return !p.fixed; };
  if (arch.mode() != ArchitectureConfig::JOINT && !r->arch_params_.empty()) {
    main_filter = [](const Parameter& p) { return !p.fixed && !IsArchitectureParameter(p); };
  }
  ASSIGN_OR_RETURN(r->optimizer_,
                   DenseOptimizer::Create(DenseOptimizerOptionsFromConfig(config.optimizer()),
                                          r->model_->params(), main_filter));
  if (arch.mode() == ArchitectureConfig::AUTOML && !r->arch_params_.empty()) {
    const OptimizerConfig& o = arch.has_optimizer() ? arch.optimizer() : config.optimizer();
    ASSIGN_OR_RETURN(r->arch_optimizer_,
                     DenseOptimizer::Create(DenseOptimizerOptionsFromConfig(o), r->model_->params(),
                                            IsArchitectureParameter));
  }
  r->dense_sync_ = std::make_unique<DenseSync>(workers, r->model_->params(), device_workers);
  RETURN_IF_ERROR(r->dense_sync_->BroadcastParameters());
  return r;
}

void StepRunner::PrepareBatch(Batch* batch, StepBuffers* buf) {
  SortBatchByDomain(batch, config_.data().num_domains(), &buf->domain_begin);
  sparse_.Prepare(*batch, &buf->sparse);
}

StepRunner::~StepRunner() = default;

#if MOEREC_HAVE_CUDA
void StepRunner::RowCacheDeleter::operator()(GpuRowCache* cache) const { delete cache; }
#else
void StepRunner::RowCacheDeleter::operator()(GpuRowCache* cache) const {
  CHECK(cache == nullptr) << "a row cache in a build without CUDA";
}
#endif

Status StepRunner::StartPull(Batch* batch, int64_t step, StepBuffers* buf) {
  const Clock::time_point t0 = Clock::now();
  PrepareBatch(batch, buf);
  const Clock::time_point t1 = Clock::now();
  if (row_cache_ == nullptr) {
    // In-process stores do the work here; remote ones only send.
    buf->pull = store_->Pull(&buf->sparse.requests, step, true);
  } else {
#if MOEREC_HAVE_CUDA
    ASSIGN_OR_RETURN(buf->ticket, row_cache_->Prefetch(buf->sparse.requests, step, true));
    buf->ready = false;
#endif
  }
  times_.data += Seconds(t0, t1);
  times_.pull += Seconds(t1, Clock::now());
  buf->batch = batch;
  buf->step = step;
  buf->in_flight = true;
  return Status::OK();
}

Status StepRunner::FinishPull(StepBuffers* buf) {
  if (row_cache_ == nullptr) return store_->Wait(buf->pull);
#if MOEREC_HAVE_CUDA
  if (!buf->ready) {
    buf->ready = true;
    buf->prefetched = row_cache_->FinishPrefetch(buf->ticket);
    if (!buf->prefetched.ok()) row_cache_->Release(buf->ticket);
  }
#endif
  return buf->prefetched;
}

Status StepRunner::CancelPrefetch() {
  for (StepBuffers& buf : buffers_) {
    if (!buf.in_flight) continue;
    buf.in_flight = false;
    if (row_cache_ == nullptr) {
      RETURN_IF_ERROR(store_->Wait(buf.pull));
      continue;
    }
#if MOEREC_HAVE_CUDA
    // A failed FinishPrefetch released its ticket already.
    if (buf.ready && !buf.prefetched.ok()) return buf.prefetched;
    row_cache_->Release(buf.ticket);
#endif
  }
  return Status::OK();
}

Status StepRunner::InvalidateRowCache() {
  if (row_cache_ == nullptr) return Status::OK();
  RETURN_IF_ERROR(CancelPrefetch());  // no ticket may be live
#if MOEREC_HAVE_CUDA
  row_cache_->Invalidate();
#endif
  return Status::OK();
}

Status StepRunner::EvaluationPull(Batch* batch, int64_t step, StepBuffers* buf) {
  PrepareBatch(batch, buf);
  if (row_cache_ == nullptr) return store_->Wait(store_->Pull(&buf->sparse.requests, step, false));
#if MOEREC_HAVE_CUDA
  ASSIGN_OR_RETURN(buf->ticket, row_cache_->Prefetch(buf->sparse.requests, step, false));
  if (Status pulled = row_cache_->FinishPrefetch(buf->ticket); !pulled.ok()) {
    row_cache_->Release(buf->ticket);
    return pulled;
  }
#endif
  return Status::OK();
}

void StepRunner::EndEvaluation(StepBuffers* buf) {
#if MOEREC_HAVE_CUDA
  if (row_cache_ != nullptr) row_cache_->Release(buf->ticket);
#endif
}

void StepRunner::DevicePool(const Batch& batch, const StepBuffers& buf) {
#if MOEREC_HAVE_CUDA
  const int num_slots = sparse_.num_slots();
  pool_index_.clear();
  pool_at_.assign(num_slots, 0);
  for (int s = 0; s < num_slots; ++s) {
    pool_at_[s] = static_cast<int64_t>(pool_index_.size());
    const std::vector<uint32_t>& offsets = batch.offsets[sparse_.source(s)];
    const std::vector<int32_t>& index = buf.sparse.index[s];
    pool_index_.insert(pool_index_.end(), offsets.begin(), offsets.end());
    for (const int32_t row : index) pool_index_.push_back(static_cast<uint32_t>(row));
  }
  device_pool_index_.Resize({std::max<int64_t>(static_cast<int64_t>(pool_index_.size()), 1)});
  gpu_->CopySync(device_pool_index_.data(), pool_index_.data(),
                 pool_index_.size() * sizeof(uint32_t), GpuResources::kHostToDevice);
  const int num_features = sparse_.num_features();
  device_features_.Resize({batch.size, num_features});
  const MatView features = device_features_.view();
  const auto* words = reinterpret_cast<const uint32_t*>(device_pool_index_.data());
  for (int s = 0; s < num_slots; ++s) {
    const uint32_t* offsets = words + pool_at_[s];
    const auto* index = reinterpret_cast<const int32_t*>(offsets + batch.size + 1);
    EmbeddingBagForward(row_cache_->rows(buf.ticket, buf.sparse.request_of_slot[s]), offsets, index,
                        sparse_.pooling(s),
                        features.Cols(sparse_.slot_column(s), sparse_.slot_dim(s)));
  }
  const int num_dense = sparse_.num_dense();
  if (num_dense > 0 && batch.size > 0) {
    gpu_->Copy2D(features.data + (num_features - num_dense), features.ld * sizeof(float),
                 batch.dense.data(), num_dense * sizeof(float), num_dense * sizeof(float),
                 batch.size, GpuResources::kHostToDevice);
  }
#endif
}

void StepRunner::DevicePoolBackward(const Batch& batch, const StepBuffers& buf) {
#if MOEREC_HAVE_CUDA
  const ConstMatView dfeatures = device_dfeatures_.view();
  const auto* words = reinterpret_cast<const uint32_t*>(device_pool_index_.data());
  for (int s = 0; s < sparse_.num_slots(); ++s) {
    const uint32_t* offsets = words + pool_at_[s];
    const auto* index = reinterpret_cast<const int32_t*>(offsets + batch.size + 1);
    EmbeddingBagBackward(dfeatures.Cols(sparse_.slot_column(s), sparse_.slot_dim(s)), offsets,
                         index, sparse_.pooling(s),
                         row_cache_->gradients(buf.ticket, buf.sparse.request_of_slot[s]));
  }
#endif
}

void StepRunner::Pool(const Batch& batch, const StepBuffers& buf, int64_t step, bool training) {
  if (row_cache_ == nullptr) {
    features_.Resize({batch.size, sparse_.num_features()});
    sparse_.Pool(batch, buf.sparse, features_.view());
  }
  model_batch_.size = batch.size;
  model_batch_.features = features_.view();
  model_batch_.domain = batch.domain.data();
  if (gpu_ != nullptr) {
    if (row_cache_ == nullptr) {
      device_features_ = features_;  // copy assignment: to the device tensor's device
    } else {
      DevicePool(batch, buf);
    }
    model_batch_.features = device_features_.view();
    device_domain_.Resize({std::max<int64_t>(batch.size, 1)});
    gpu_->CopySync(device_domain_.data(), batch.domain.data(), batch.size * sizeof(int32_t),
                   GpuResources::kHostToDevice);
    model_batch_.domain = reinterpret_cast<const int32_t*>(device_domain_.data());
  }
  model_batch_.domain_begin = buf.domain_begin;
  model_batch_.training = training;
  model_batch_.seed = HashCombine(config_.train().seed(), static_cast<uint64_t>(step));
  model_batch_.labels = batch.labels.data();
  model_batch_.label_mask = batch.label_mask.data();
  model_batch_.keys = nullptr;
  if (MatchingModel* m = model_->matching()) {
    // The item key: the first id of the key slot (0 for a sample without one).
    const int slot = m->key_slot();
    keys_.assign(batch.size, 0);
    for (int64_t i = 0; i < batch.size; ++i) {
      const uint32_t begin = batch.offsets[slot][i];
      if (batch.offsets[slot][i + 1] > begin) keys_[i] = batch.ids[slot][begin];
    }
    model_batch_.keys = keys_.data();
  }
}

void StepRunner::PoolAndForward(const Batch& batch, const StepBuffers& buf, int64_t step,
                                bool training) {
  Pool(batch, buf, step, training);
  logits_.Resize({batch.size, config_.data().num_tasks()});
  if (gpu_ == nullptr) {
    model_->Forward(model_batch_, logits_.view());
    return;
  }
  device_logits_.Resize({batch.size, config_.data().num_tasks()});
  DeviceScope on_device(gpu_);  // what the model allocates as it runs (caches) lives there too
  model_->Forward(model_batch_, device_logits_.view());
  logits_ = device_logits_;  // to the host, where the loss and the metrics are computed
}

void StepRunner::Backward(bool with_features) {
  if (with_features) dfeatures_.Resize({model_batch_.size, sparse_.num_features()});
  if (gpu_ == nullptr) {
    model_->Backward(model_batch_, dlogits_.view(), with_features ? dfeatures_.view() : MatView{});
    return;
  }
  device_dlogits_ = dlogits_;
  DeviceScope on_device(gpu_);
  if (!with_features) {
    model_->Backward(model_batch_, device_dlogits_.view(), MatView{});
    return;
  }
  device_dfeatures_.Resize({model_batch_.size, sparse_.num_features()});
  model_->Backward(model_batch_, device_dlogits_.view(), device_dfeatures_.view());
  // Without a row cache, back to the host, where the rows' gradients are pooled.
  if (row_cache_ == nullptr) dfeatures_ = device_dfeatures_;
}

StatusOr<double> StepRunner::Train(Batch* batch, int64_t step, Batch* next) {
  StepBuffers& buf = buffers_[current_];
  StepBuffers& other = buffers_[1 - current_];
  const bool prefetched = buf.in_flight && buf.batch == batch && buf.step == step;
  if (!prefetched) {
    RETURN_IF_ERROR(CancelPrefetch());
    RETURN_IF_ERROR(StartPull(batch, step, &buf));  // books its own data and pull time
  }
  const Clock::time_point t0b = Clock::now();
  CountObservedLabels(*batch, &label_counts_);
  RETURN_IF_ERROR(workers_->AllReduceSum(label_counts_.data(), label_counts_.size()));
  const Clock::time_point t1 = Clock::now();

  buf.in_flight = false;
  RETURN_IF_ERROR(FinishPull(&buf));
  const Clock::time_point t1b = Clock::now();
  if (next != nullptr && early_prefetch_) {
    if (Status started = StartPull(next, step + 1, &other); !started.ok()) {
      EndEvaluation(&buf);  // the step's ticket ends without a push
      return started;
    }
  }
  const Clock::time_point t2 = Clock::now();

  double loss = 0.0;
  model_->params()->ZeroGrad();
  // A worker whose slice of the last global batch is empty still takes part in the step's
  // collectives (pushes, all-reduce; a collective model's dispatch) with nothing to add.
  if (batch->size > 0 || model_->Collective(true)) {
    if (MatchingModel* m = model_->matching()) {
      Pool(*batch, buf, step, true);
      ASSIGN_OR_RETURN(loss, m->TrainingLoss(model_batch_));
      dlogits_.Resize({batch->size, config_.data().num_tasks()});  // unused by the model
    } else {
      PoolAndForward(*batch, buf, step, true);
      loss = TaskMeanBce(*batch, logits_, label_counts_, &loss_weights_, &dlogits_, &probs_);
    }
    loss += model_->AuxLoss();
    Backward(train_rows_);
    if (train_rows_) {
      if (row_cache_ == nullptr) {
        sparse_.PoolBackward(*batch, dfeatures_.view(), &buf.sparse);
      } else if (batch->size > 0) {
        DevicePoolBackward(*batch, buf);
      }
    }
  }
  // The push still goes out (the servers' step clock counts every worker's), without the rows
  // of frozen tables (a phase that freezes rows; an offline teacher's tables). A GPU worker
  // pushes through its cache, unless no row trains (then the ticket ends and an empty push
  // goes to the store itself, as on a CPU worker; a GPU worker has no fixed tables).
  const bool cache_push = row_cache_ != nullptr && train_rows_;
  if (row_cache_ != nullptr && !cache_push) EndEvaluation(&buf);
  for (TableRequest& r : buf.sparse.requests) {
    if (train_rows_ && (fixed_tables_.empty() || !fixed_tables_[r.table])) continue;
    r.keys.clear();
    r.values.clear();
  }
  const Clock::time_point t3 = Clock::now();

  EmbeddingStore::Ticket push = 0;
  Status pushed;  // a push finished before the all-reduce (BSP through the cache)
  bool push_pending = true;
#if MOEREC_HAVE_CUDA
  if (cache_push) {
    row_cache_->PushGradients(buf.ticket);
    if (!early_prefetch_) {
      // BSP: the next prefetch must see this push.
      pushed = row_cache_->FinishPush(buf.ticket);
      push_pending = false;
    }
  } else {
    push = store_->Push(&buf.sparse.requests, step);
  }
#else
  push = store_->Push(&buf.sparse.requests, step);
#endif
  const Clock::time_point t4 = Clock::now();
  if (next != nullptr && !early_prefetch_ && pushed.ok()) {
    if (Status started = StartPull(next, step + 1, &other); !started.ok()) pushed = started;
  }
  // The next step's rows land on the device while the dense all-reduce and optimizer run
  // (its copy-in queued behind this step's compute).
  if (row_cache_ != nullptr && pushed.ok() && other.in_flight) {
    FinishPull(&other).IgnoreError();  // its status is the next step's
  }
  const Clock::time_point t4b = Clock::now();

  auto finish_push = [&]() -> Status {
    if (!push_pending) return pushed;
    push_pending = false;
#if MOEREC_HAVE_CUDA
    if (cache_push) return row_cache_->FinishPush(buf.ticket);
#endif
    return store_->Wait(push);
  };
  if (!pushed.ok()) {
    CancelPrefetch().IgnoreError();
    return pushed;
  }
  if (Status reduced = dense_sync_->AllReduceGradients(); !reduced.ok()) {
    // Every ticket is waited for (EmbeddingStore's contract), also on the way out; the
    // all-reduce's error is the one to report.
    finish_push().IgnoreError();
    return reduced;
  }
  optimizer_->Step();
  const Clock::time_point t5 = Clock::now();
  RETURN_IF_ERROR(finish_push());
  const Clock::time_point t6 = Clock::now();
  current_ = 1 - current_;

  times_.data += Seconds(t0b, t1);
  times_.pull += Seconds(t1, t1b);
  times_.compute += Seconds(t2, t3);
  times_.push += Seconds(t3, t4) + Seconds(t5, t6);
  times_.dense += Seconds(t4b, t5);
  times_.steps += 1;
  times_.samples += batch->size;
  times_.ps_bytes = store_->wire_bytes() - wire_bytes_at_clear_;
  times_.allreduce_bytes += dense_sync_->bytes_per_step();
  times_.loss_sum += loss;
  if (!std::isfinite(loss)) {
    return Internal("training diverged: the loss is " + std::to_string(loss) + " at step " +
                    std::to_string(step) + "; lower optimizer.learning_rate");
  }
  return loss;
}

StatusOr<double> StepRunner::TrainArchitecture(Batch* batch, int64_t step) {
  if (arch_optimizer_ == nullptr) return 0.0;
  RETURN_IF_ERROR(CancelPrefetch());
  StepBuffers& buf = buffers_[current_];
  RETURN_IF_ERROR(EvaluationPull(batch, step, &buf));
  CountObservedLabels(*batch, &label_counts_);
  if (Status counted = workers_->AllReduceSum(label_counts_.data(), label_counts_.size());
      !counted.ok()) {
    EndEvaluation(&buf);
    return counted;
  }
  model_->params()->ZeroGrad();
  double loss = 0.0;
  if (batch->size > 0) {
    PoolAndForward(*batch, buf, step, false);
    loss = TaskMeanBce(*batch, logits_, label_counts_, &loss_weights_, &dlogits_, &probs_) +
           model_->AuxLoss();
    Backward(false);
  }
  EndEvaluation(&buf);
  arch_grads_.clear();
  for (const Parameter* p : arch_params_) {
    const Tensor host = p->grad.To(nullptr);
    arch_grads_.insert(arch_grads_.end(), host.data(), host.data() + host.size());
  }
  RETURN_IF_ERROR(workers_->AllReduceSum(arch_grads_.data(), arch_grads_.size()));
  size_t at = 0;
  for (Parameter* p : arch_params_) {
    Tensor host(p->grad.shape(), nullptr);
    std::copy(arch_grads_.begin() + at, arch_grads_.begin() + at + p->grad.size(), host.data());
    p->grad = host;  // copy assignment: back to the parameter's device
    at += p->grad.size();
  }
  arch_optimizer_->Step();
  // The gradients of everything else came from a held-out batch: none may reach an update.
  model_->params()->ZeroGrad();
  return loss;
}

Status StepRunner::Encode(Batch* batch, int64_t step, bool users, Tensor* out) {
  MatchingModel* m = model_->matching();
  if (m == nullptr) return FailedPrecondition("the model is not a matching (two-tower) model");
  RETURN_IF_ERROR(CancelPrefetch());
  StepBuffers& buf = buffers_[current_];
  RETURN_IF_ERROR(EvaluationPull(batch, step, &buf));
  Pool(*batch, buf, step, false);
  EndEvaluation(&buf);
  out->Resize({std::max<int64_t>(batch->size, 1), m->embedding_dim()});
  const MatView view = out->view().Rows(0, batch->size);
  if (users) {
    m->EncodeUsers(model_batch_, view);
  } else {
    m->EncodeItems(model_batch_, view);
  }
  return Status::OK();
}

Status StepRunner::Predict(Batch* batch, int64_t step, Tensor* probs) {
  RETURN_IF_ERROR(CancelPrefetch());
  StepBuffers& buf = buffers_[current_];
  RETURN_IF_ERROR(EvaluationPull(batch, step, &buf));
  PoolAndForward(*batch, buf, step, false);
  EndEvaluation(&buf);
  probs->ResizeLike(logits_);
  SigmoidForward(logits_.view(), probs->view());
  return Status::OK();
}

}  // namespace moerec
