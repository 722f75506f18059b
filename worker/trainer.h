// Trainer: the training loop of one worker (DESIGN.md §2, "One training step on a worker").
//
// Per step: the reader's next batch (prefetched by its threads) is sorted by domain; its ids are
// deduplicated per table and pulled from the EmbeddingStore; pooled features go through the
// model; the loss is the per-task mean masked BCE normalised by the global label counts; the
// backward pass gives dense gradients (all-reduced over the workers' Communicator, then the
// dense optimizer steps) and per-key row gradients (pushed to the store, whose optimizer
// applies them).
// Around the steps: epochs, evaluation every N steps (or per epoch) on the validation split,
// early stopping on the mean validation AUC with restore of the best state (dense parameters
// and embedding rows), and a final test evaluation. Metrics go to <run_dir>/metrics.jsonl; a
// table is printed at the end.
//
// Determinism: for a seed, the same config gives the same model (data order, initialisation,
// dropout masks, summation orders do not depend on timing or thread counts).
// Ownership: the store and communicator are the caller's and outlive the trainer.
// Thread-safety: one thread drives a Trainer.
#ifndef MOEREC_WORKER_TRAINER_H_
#define MOEREC_WORKER_TRAINER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"
#include "data/batch.h"
#include "embedding/embedding_store.h"
#include "experts/model.h"
#include "proto/config.pb.h"
#include "worker/matching_eval.h"
#include "worker/metrics/domain_task_metrics.h"

namespace moerec {

class TrainerImpl;

class Trainer {
 public:
  struct Options {
    std::string run_dir;       // created when missing; metrics.jsonl is appended to
    int64_t max_steps = -1;    // when >= 0, replaces train.max_steps (0 = no limit)
    bool interactive = false;  // a live progress line (stdout is a terminal) instead of logs
    bool print_table = true;   // print the final metrics table to stdout (rank 0)
    // Checkpoints exist but none is whole: refuse (default), or set them aside and start over.
    bool allow_fresh_start = false;
    // checkpoint.resume is false and checkpoints of an earlier run are there: move them aside
    // (default), or refuse to start.
    bool refuse_earlier_checkpoints = false;
    // The teacher ranks' end on this worker (distill.placement TEACHER_RANKS), or null.
    TeacherScorer* teacher = nullptr;
    // A GPU worker's device (borrowed; StepRunner::Create's `gpu`), or null for a CPU worker.
    GpuResources* gpu = nullptr;
    // With `gpu`: the NCCL backend over the same workers for the dense all-reduce (borrowed;
    // comm/worker_communicator.h), or null to all-reduce through host memory.
    Communicator* device_workers = nullptr;
    // TensorBoard event files of the metrics in <run_dir>/tb/ (chief), written out at least
    // this often (seconds); 0 = none.
    double tb_flush_secs = 10;
    // A checkpoint folder to evaluate or predict with (moerec eval / predict): Create loads its
    // state instead of resuming, after checking that it is a model of the config
    // (JobCheckpointer::CheckModel); the run folder is only read (no metrics, no checkpoints).
    // One process; Run must not be called.
    std::string saved_model;
  };

  // Predict's output, one batch at a time: probs (B, T) row-major for the batch's rows as the
  // model saw them (sorted by domain); index[r] = the position of row r in the input files.
  using PredictionSink = std::function<Status(const Batch& batch, const float* probs,
                                              const std::vector<int64_t>& index)>;

  // `workers` spans the training workers (SelfCommunicator for one process); worker w reads
  // share w of every split. The config must come from LoadJobConfig.
  static StatusOr<std::unique_ptr<Trainer>> Create(const JobConfig& config, const Options& options,
                                                   EmbeddingStore* store, Communicator* workers);
  ~Trainer();

  // Trains, evaluates and tests; returns the final test report (on every worker).
  StatusOr<Report> Run();

  // Evaluates the current model on a split ("validation" or "test").
  StatusOr<Report> Evaluate(const std::string& split);

  // Matching models, one process: returns to the best validation state of the run folder's
  // checkpoints (Create resumed the newest; train.restore_best picks the best one) and embeds
  // the corpus and the queries of `split` ("validation" or "test"). FailedPrecondition for a
  // ranking model or a run folder without checkpoints.
  StatusOr<std::unique_ptr<MatchingEvaluator::Export>> ExportMatching(const std::string& split);
  // The retrieval options of a matching model's evaluation (ks, scenario names, tiles); the
  // defaults for a ranking model.
  RetrievalOptions MatchingOptions() const;

  // The probability of every task for every sample of `paths` (shard files or folders, in
  // file order), handed to `sink`.
  Status Predict(const std::vector<std::string>& paths, const PredictionSink& sink);

  int64_t step() const;

 private:
  explicit Trainer(std::unique_ptr<TrainerImpl> impl);
  std::unique_ptr<TrainerImpl> impl_;
};

// Compute threads for a worker: `configured` when > 0; else OMP_NUM_THREADS when set; else the
// machine's cores divided by the ranks this node runs (mpirun's / Slurm's local size).
int ResolveComputeThreads(int configured);

}  // namespace moerec

#endif  // MOEREC_WORKER_TRAINER_H_
