#include "worker/step_runner.h"

#include <chrono>
#include <cmath>

#include "core/activation.h"
#include "core/random.h"
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

StepRunner::StepRunner(const JobConfig& config, EmbeddingStore* store, Communicator* workers)
    : config_(config),
      store_(store),
      workers_(workers),
      sparse_(SparseInput::FromConfig(config)) {}

StatusOr<std::unique_ptr<StepRunner>> StepRunner::Create(const JobConfig& config,
                                                         EmbeddingStore* store,
                                                         Communicator* workers) {
  std::unique_ptr<StepRunner> r(new StepRunner(config, store, workers));
  ModelShape shape;
  shape.num_features = r->sparse_.num_features();
  shape.num_domains = config.data().num_domains();
  shape.num_tasks = config.data().num_tasks();
  ASSIGN_OR_RETURN(r->model_, CreateModel(config.model(), shape, config.train().seed()));
  ASSIGN_OR_RETURN(r->optimizer_,
                   DenseOptimizer::Create(DenseOptimizerOptionsFromConfig(config.optimizer()),
                                          r->model_->params()));
  r->dense_sync_ = std::make_unique<DenseSync>(workers, r->model_->params());
  RETURN_IF_ERROR(r->dense_sync_->BroadcastParameters());
  return r;
}

void StepRunner::PrepareBatch(Batch* batch, SparseBatch* sparse) {
  SortBatchByDomain(batch, config_.data().num_domains(), &model_batch_.domain_begin);
  sparse_.Prepare(*batch, sparse);
}

void StepRunner::PoolAndForward(const Batch& batch, const SparseBatch& sparse, int64_t step,
                                bool training) {
  features_.Resize({batch.size, sparse_.num_features()});
  sparse_.Pool(batch, sparse, features_.view());
  model_batch_.size = batch.size;
  model_batch_.features = features_.view();
  model_batch_.domain = batch.domain.data();
  model_batch_.training = training;
  model_batch_.seed = HashCombine(config_.train().seed(), static_cast<uint64_t>(step));
  logits_.Resize({batch.size, config_.data().num_tasks()});
  model_->Forward(model_batch_, logits_.view());
}

StatusOr<double> StepRunner::Train(Batch* batch, int64_t step) {
  const Clock::time_point t0 = Clock::now();
  PrepareBatch(batch, &sparse_batch_);
  CountObservedLabels(*batch, &label_counts_);
  RETURN_IF_ERROR(workers_->AllReduceSum(label_counts_.data(), label_counts_.size()));
  const Clock::time_point t1 = Clock::now();

  RETURN_IF_ERROR(store_->Wait(store_->Pull(&sparse_batch_.requests, step, true)));
  const Clock::time_point t2 = Clock::now();

  double loss = 0.0;
  model_->params()->ZeroGrad();
  // A worker whose slice of the last global batch is empty still takes part in the step's
  // collectives (pushes, all-reduce) with nothing to add.
  if (batch->size > 0) {
    PoolAndForward(*batch, sparse_batch_, step, true);
    loss = TaskMeanBce(*batch, logits_, label_counts_, &loss_weights_, &dlogits_, &probs_) +
           model_->AuxLoss();
    dfeatures_.Resize({batch->size, sparse_.num_features()});
    model_->Backward(model_batch_, dlogits_.view(), dfeatures_.view());
    sparse_.PoolBackward(*batch, dfeatures_.view(), &sparse_batch_);
  }
  const Clock::time_point t3 = Clock::now();

  RETURN_IF_ERROR(store_->Wait(store_->Push(&sparse_batch_.requests, step)));
  const Clock::time_point t4 = Clock::now();

  RETURN_IF_ERROR(dense_sync_->AllReduceGradients());
  optimizer_->Step();
  const Clock::time_point t5 = Clock::now();

  times_.data += Seconds(t0, t1);
  times_.pull += Seconds(t1, t2);
  times_.compute += Seconds(t2, t3);
  times_.push += Seconds(t3, t4);
  times_.dense += Seconds(t4, t5);
  times_.steps += 1;
  times_.samples += batch->size;
  times_.loss_sum += loss;
  if (!std::isfinite(loss)) {
    return Internal("training diverged: the loss is " + std::to_string(loss) + " at step " +
                    std::to_string(step) + "; lower optimizer.learning_rate");
  }
  return loss;
}

Status StepRunner::Predict(Batch* batch, int64_t step, Tensor* probs) {
  PrepareBatch(batch, &sparse_batch_);
  RETURN_IF_ERROR(store_->Wait(store_->Pull(&sparse_batch_.requests, step, false)));
  PoolAndForward(*batch, sparse_batch_, step, false);
  probs->ResizeLike(logits_);
  SigmoidForward(logits_.view(), probs->view());
  return Status::OK();
}

}  // namespace moerec
