// JobCheckpointer: durable checkpoints of a whole training job and resuming from them
// (DESIGN.md §9). A checkpoint is one folder <run_dir>/checkpoints/step-<step>/ holding
//   ps/        every parameter server's rows (EmbeddingStore::Checkpoint; ps/checkpoint.h)
//   dense.bin  the chief's dense parameters and dense optimizer state
//   MANIFEST   the trainer's position and early-stopping state, with the size and crc32 of
//              dense.bin and ps/MANIFEST; written last, atomically
// so a checkpoint is whole exactly when its MANIFEST is present and every file it lists (and
// every file those list) matches; anything else is ignored when resuming and refused when named
// explicitly. Checkpoints are taken every N steps and/or minutes (the chief's clock decides,
// and all workers follow the decision of the step), and whenever validation finds a new best
// (then the best state survives a restart). Old checkpoints are deleted down to `keep_last`,
// never the best one or a checkpoint that a kept incremental one stands on.
//
// Write and Load are collective over the workers (they call the store's collective
// checkpoint/restore); the chief alone writes files other than the servers' and deletes old
// checkpoints. The run folder must be on a file system all ranks share.
// Thread-safety: one thread per worker.
#ifndef MOEREC_SCHEDULER_CHECKPOINTER_H_
#define MOEREC_SCHEDULER_CHECKPOINTER_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/optimizer.h"
#include "core/parameter.h"
#include "core/status.h"
#include "embedding/embedding_store.h"
#include "proto/checkpoint.pb.h"
#include "proto/config.pb.h"

namespace moerec {

// Where the trainer is, as a checkpoint records it.
struct TrainerPosition {
  int64_t step = 0;           // steps completed
  int epoch = 0;              // epoch in progress
  int64_t epoch_batches = 0;  // batches of that epoch trained on
  // The epoch's end work (architecture step, validation) is done too: written at the end of a
  // phase's last epoch (earlier epochs' ends are written as the next epoch's start).
  bool epoch_done = false;
  int64_t best_step = -1;
  double best_val_mean_auc = 0;
  int evals_since_best = 0;
  std::string best_checkpoint;  // folder name, or empty
};

class JobCheckpointer {
 public:
  JobCheckpointer(const CheckpointConfig& config, const std::string& run_dir, Communicator* workers,
                  EmbeddingStore* store, int num_servers);

  bool enabled() const { return config_.every_steps() > 0 || config_.every_minutes() > 0; }
  // Whether the step just completed should be checkpointed by the step rule, or (chief) by
  // the clock; the trainer makes the decision collective.
  bool DueByStep(int64_t step) const;
  bool DueByTime() const;

  // Writes a checkpoint of the current state at position.step. Sets *name to its folder name.
  // arch_optimizer: the architecture parameters' own optimizer, when the job has one.
  Status Write(const TrainerPosition& position, const ParameterSet& params,
               const DenseOptimizer& optimizer, bool is_best, std::string* name,
               const DenseOptimizer* arch_optimizer = nullptr);

  // Chief: removes the folder of a checkpoint of `step` whose Write failed (it has no MANIFEST:
  // nothing in it was acknowledged), so that a skipped checkpoint leaves no partial files.
  void RemovePartial(int64_t step);

  // The newest whole checkpoint's folder name. NotFound when no finished checkpoint exists
  // (folders of checkpoints that a killed job never finished do not count);
  // FailedPrecondition, listing every finished checkpoint and why it was refused, when there
  // are some but none is whole any more. Collective (the chief decides).
  StatusOr<std::string> FindLatest() const;

  // Moves <run_dir>/checkpoints (when it holds anything) to
  // <run_dir>/checkpoints.<why>-<UTC time>, so that no later resume picks up that state.
  // Returns the new path, or "" when there was nothing to move. Collective.
  StatusOr<std::string> SetAside(const std::string& why);
  // Whether checkpoints/ holds any checkpoint folder, whole or not (on this rank's view).
  bool HasCheckpoints() const;

  // Restores dense parameters, optimizer state, embedding rows and *position from checkpoint
  // `name` (a folder name under checkpoints/, or a path). Collective.
  Status Load(const std::string& name, ParameterSet* params, DenseOptimizer* optimizer,
              TrainerPosition* position, DenseOptimizer* arch_optimizer = nullptr);
  // Restores only the state (dense parameters and rows) of `name`: the best-state restore.
  // The workers go on at `step` (the servers' clocks are set to it).
  Status LoadState(const std::string& name, int64_t step, ParameterSet* params);

  // The checkpoint holding the state another job ended with (a distillation teacher's): the
  // best checkpoint that the newest whole one of `run_dir` names (the state a job with
  // train.restore_best ends with), when it is whole, else that newest one. Returns its path.
  // NotFound or FailedPrecondition, as FindLatest, naming the folder. Collective.
  static StatusOr<std::string> FindFinalState(const std::string& run_dir, Communicator* workers);

  // Verifies a checkpoint folder: its MANIFEST, dense.bin and the whole ps chain.
  static Status Verify(const std::string& dir, JobCheckpointManifest* manifest);
  // The sections of a dense.bin: the parameters (ParameterSet bytes), the optimizer's state and
  // the architecture optimizer's (empty when the job had none). Corruption naming the file.
  static Status ReadDense(const std::string& path, std::string* params, std::string* optimizer,
                          std::string* arch_optimizer);

  // Records `config`'s model kind, fingerprint and data schema in every checkpoint written.
  void RecordModel(const JobConfig& config);
  // OK when the checkpoint in `dir` (its verified `manifest`) is a model of `config`;
  // FailedPrecondition naming what differs (model kind and fingerprint, or the schema) when
  // not. OK for a checkpoint that records no model (older builds).
  static Status CheckModel(const std::string& dir, const JobCheckpointManifest& manifest,
                           const JobConfig& config);

  std::string dir() const { return root_; }
  std::string PathOf(const std::string& name) const;

 private:
  // `keep` selects the parameters (and their optimizer state) written; all when null.
  Status WriteDense(const std::string& path, const ParameterSet& params,
                    const DenseOptimizer& optimizer, const DenseOptimizer* arch_optimizer,
                    CheckpointFile* file, const ParameterSet::Filter& keep = nullptr) const;
  // Loads this worker's expert-local parameters (and, with an optimizer, their state) from the
  // expert files of the checkpoint in `dir`, wherever the experts were placed when it was
  // written; FailedPrecondition naming a parameter that none of them holds.
  static Status LoadExperts(const std::string& dir, const JobCheckpointManifest& manifest,
                            ParameterSet* params, DenseOptimizer* optimizer);
  // Chief: deletes checkpoints beyond keep_last that nothing kept depends on.
  Status CollectGarbage(const std::string& best);

  const CheckpointConfig config_;
  const std::string root_;  // <run_dir>/checkpoints
  Communicator* const workers_;
  EmbeddingStore* const store_;
  const int num_servers_;
  std::chrono::steady_clock::time_point last_write_;
  int written_ = 0;              // checkpoints written by this process
  JobCheckpointManifest model_;  // model_kind, model_fingerprint, schema (RecordModel)
};

}  // namespace moerec

#endif  // MOEREC_SCHEDULER_CHECKPOINTER_H_
