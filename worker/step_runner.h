// StepRunner: one training or inference step of a worker, the unit the Trainer loops over and
// the benchmarks time. It owns the model, its dense optimizer and the step's buffers; the
// embedding store and the worker communicator are the caller's.
//
// Train(batch): sort by domain → dedup ids → pull → pool → forward → per-task mean BCE with
// global label counts (matching models: their own candidate loss, MatchingModel::TrainingLoss)
// (+ the model's auxiliary loss) → backward → row gradients pushed → dense
// gradients all-reduced → dense optimizer step. Predict(batch): the same up to the
// probabilities, in evaluation mode (pulls create no rows).
// The batch is sorted in place, so predictions line up with the batch as it is afterwards.
//
// Overlap: given the next batch, Train starts its pull while this step still works. In BSP the
// pull goes out right after this step's push (the servers answer it once every worker's push
// is applied, so the result is exact) and flies during the dense all-reduce and optimizer
// step; in ASP/SSP it goes out before this step's compute (rows one step stale, as those
// modes allow). The next Train must then be called with that batch.
// A GPU worker keeps its rows in a GpuRowCache (embedding/gpu_row_cache.h) in device memory in
// front of the store (staleness cluster.row_cache_staleness, capacity cluster.row_cache_rows):
// pooling and its backward run on the device from the cache's blocks, and the row gradients go
// back to the servers through the cache's copy-out stream, in the cache's per-step order (BSP:
// this step's push finishes before the next step's prefetch; ASP/SSP: the next step's prefetch
// overlaps this step's compute and its copy-in lands before the dense all-reduce). Evaluation
// pulls bypass the cache. Call InvalidateRowCache when the store's rows change underneath.
// Thread-safety: one thread drives a StepRunner.
#ifndef MOEREC_WORKER_STEP_RUNNER_H_
#define MOEREC_WORKER_STEP_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/optimizer.h"
#include "core/status.h"
#include "data/batch.h"
#include "embedding/embedding_store.h"
#include "embedding/sparse_input.h"
#include "experts/model.h"
#include "proto/config.pb.h"
#include "worker/dense_sync.h"

namespace moerec {

class GpuRowCache;

// The shape the job's model is built for: F, D, T and the feature columns' layout (every slot's
// width, in data.slots order, then the dense features), from a loaded job config
// (LoadJobConfig filled the tables).
ModelShape ModelShapeFromConfig(const JobConfig& config);

// Seconds per phase, summed over steps until Clear().
struct StepTimes {
  double data = 0;     // sort, dedup, label counts
  double pull = 0;     // embedding pull
  double compute = 0;  // pooling, forward, loss, backward
  double push = 0;     // row-gradient push
  double dense = 0;    // dense all-reduce + optimizer
  int64_t steps = 0;
  int64_t samples = 0;
  double loss_sum = 0;
  int64_t ps_bytes = 0;         // parameter-server traffic of this worker (sent + received)
  int64_t allreduce_bytes = 0;  // dense-gradient buffers all-reduced

  void Clear() { *this = StepTimes(); }
  double mean_loss() const { return steps > 0 ? loss_sum / steps : 0.0; }
};

class StepRunner {
 public:
  // The config must come from LoadJobConfig (tables filled). Dense parameters are broadcast
  // from worker 0 so all workers start equal.
  // `teacher`: the remote teacher of a distilled matching model with TEACHER_RANKS (required
  // there, unused otherwise).
  // `gpu` (borrowed, may be null): a GPU worker. The dense model (parameters, activations,
  // optimizer state) lives on that device and runs there; the rows reach the device through a
  // GpuRowCache in front of `store` and are pooled there (the dense features are copied into
  // their columns), the rows' gradients are formed there and pushed through the cache, and the
  // dense gradients are all-reduced on the device over `device_workers` (the NCCL
  // backend over the same workers), or through host memory over `workers` without it. Ranking
  // models only (a matching model is refused with FailedPrecondition).
  static StatusOr<std::unique_ptr<StepRunner>> Create(const JobConfig& config,
                                                      EmbeddingStore* store, Communicator* workers,
                                                      TeacherScorer* teacher = nullptr,
                                                      GpuResources* gpu = nullptr,
                                                      Communicator* device_workers = nullptr);
  ~StepRunner();

  // One training step at global step `step`; returns the batch's loss. `next` (optional) is
  // the batch of step + 1, whose pull starts during this step.
  StatusOr<double> Train(Batch* batch, int64_t step, Batch* next = nullptr);
  // Completes and drops a pull started for a next batch that will not be trained on.
  Status CancelPrefetch();
  // Empties a GPU worker's row cache (a no-op on a CPU worker); call it whenever the store's
  // rows change underneath (RestoreSnapshot, Restore, ImportTables). Drops a prefetch first.
  Status InvalidateRowCache();
  // probs: (B, T) σ(logits) in evaluation mode.
  Status Predict(Batch* batch, int64_t step, Tensor* probs);
  // Matching models: the user (users = true) or item tower's embeddings of the batch's rows in
  // evaluation mode; out: (max(B, 1), d), its first B rows written. The batch is sorted by
  // domain in place (rows line up with it afterwards). FailedPrecondition for ranking models.
  Status Encode(Batch* batch, int64_t step, bool users, Tensor* out);
  // One step of the architecture optimizer (TrainConfig.architecture AUTOML) on a held-out
  // batch: evaluation-mode forward (pulls create no rows), the training loss, backward, the
  // architecture gradients all-reduced over the workers, an update of the architecture
  // parameters only. Nothing is pushed; other parameters keep their values. Collective.
  // Returns the batch's loss; a no-op returning 0 without an architecture optimizer.
  StatusOr<double> TrainArchitecture(Batch* batch, int64_t step);

  // Whether training steps update the embedding rows (default true). When false the row
  // gradients are not computed and the pushes carry no rows (a phase that freezes them).
  void set_train_rows(bool train_rows) { train_rows_ = train_rows; }

  Model* model() { return model_.get(); }
  // A GPU worker's row cache, or null.
  const GpuRowCache* row_cache() const { return row_cache_.get(); }
  DenseOptimizer* optimizer() { return optimizer_.get(); }
  // The architecture parameters' own optimizer (AUTOML mode with a model that has them), or
  // null.
  DenseOptimizer* architecture_optimizer() { return arch_optimizer_.get(); }
  const StepTimes& times() const { return times_; }
  // Clears the step statistics (a new reporting window).
  void ClearTimes() {
    times_.Clear();
    wire_bytes_at_clear_ = store_->wire_bytes();
  }
  const SparseInput& sparse_input() const { return sparse_; }

 private:
  // One of the two alternating buffers: the current step's and the prefetched next step's.
  struct StepBuffers {
    SparseBatch sparse;
    std::vector<int64_t> domain_begin;
    const Batch* batch = nullptr;  // the batch whose pull is in flight
    int64_t step = -1;
    EmbeddingStore::Ticket pull = 0;
    bool in_flight = false;
    // A GPU worker: the cache's ticket of the step (live until FinishPush or Release), and
    // whether its FinishPrefetch has run (with its status).
    uint64_t ticket = 0;
    bool ready = false;
    Status prefetched;
  };

  StepRunner(const JobConfig& config, EmbeddingStore* store, Communicator* workers);
  void PrepareBatch(Batch* batch, StepBuffers* buf);
  Status StartPull(Batch* batch, int64_t step, StepBuffers* buf);
  // Waits for buf's training pull (a GPU worker: FinishPrefetch, unless it ran already).
  Status FinishPull(StepBuffers* buf);
  // An evaluation pull of the batch into buf (a GPU worker: a cache ticket; EndEvaluation
  // releases it).
  Status EvaluationPull(Batch* batch, int64_t step, StepBuffers* buf);
  void EndEvaluation(StepBuffers* buf);
  // A GPU worker's pooling from the cache's blocks into device_features_ (dense columns copied
  // in), and its backward from device_dfeatures_ into the cache's gradient blocks.
  void DevicePool(const Batch& batch, const StepBuffers& buf);
  void DevicePoolBackward(const Batch& batch, const StepBuffers& buf);
  // Pools the pulled rows into the features and fills model_batch_ (labels, item keys).
  void Pool(const Batch& batch, const StepBuffers& buf, int64_t step, bool training);
  void PoolAndForward(const Batch& batch, const StepBuffers& buf, int64_t step, bool training);
  // Backward from dlogits_ (host); dfeatures_ (host) receives the feature gradients when
  // with_features.
  void Backward(bool with_features);

  const JobConfig config_;
  EmbeddingStore* const store_;
  Communicator* const workers_;
  const SparseInput sparse_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<DenseOptimizer> optimizer_;
  std::unique_ptr<DenseOptimizer> arch_optimizer_;
  std::vector<Parameter*> arch_params_;
  std::vector<float> arch_grads_;  // packed for the all-reduce
  std::unique_ptr<DenseSync> dense_sync_;
  std::vector<bool> fixed_tables_;  // by table index: never pushed to (empty: none)

  const bool early_prefetch_;
  bool train_rows_ = true;  // ASP/SSP on servers: next pull before this step's compute
  ModelBatch model_batch_;
  StepBuffers buffers_[2];
  int current_ = 0;
  Tensor features_, dfeatures_, logits_, dlogits_, probs_;
  // A GPU worker's device side of the tensors above, and the batch's domains there.
  GpuResources* gpu_ = nullptr;
  Tensor device_features_, device_dfeatures_, device_logits_, device_dlogits_;
  Tensor device_domain_;  // (B) int32 domain ids, stored in a float tensor's 4-byte slots
  // Defined where GpuRowCache is (a build without CUDA never makes one).
  struct RowCacheDeleter {
    void operator()(GpuRowCache* cache) const;
  };
  std::unique_ptr<GpuRowCache, RowCacheDeleter> row_cache_;
  // The step's pooling index on the device, per slot: its source's offsets (B + 1 uint32) then
  // its index (nnz_s int32), in 4-byte slots; pool_at_[s] is where slot s's block starts.
  Tensor device_pool_index_;
  std::vector<uint32_t> pool_index_;
  std::vector<int64_t> pool_at_;
  std::vector<double> label_counts_;
  std::vector<uint64_t> keys_;  // (B) item keys of a matching model's batch
  std::vector<float> loss_weights_;
  StepTimes times_;
  int64_t wire_bytes_at_clear_ = 0;
};

// The dense optimizer options a config asks for.
DenseOptimizerOptions DenseOptimizerOptionsFromConfig(const OptimizerConfig& config);

}  // namespace moerec

#endif  // MOEREC_WORKER_STEP_RUNNER_H_
