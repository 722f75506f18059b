// StepClock: the consistency rule of a sync mode, as a parameter server applies it to the
// requests of W workers (DESIGN.md §2, step 7). Steps are counted from 0; "a pull at step t"
// is issued by a worker that has finished t steps.
//   BSP: pushes of step t are held until all W workers have pushed t, then applied together
//        (summed in worker order); a pull at step t is served once every step < t is applied.
//        The result equals one process training on the global batch.
//   ASP: pushes are applied on arrival; pulls are served at once.
//   SSP: pushes are applied on arrival; a pull at step t is served once every worker has
//        pushed step t - s - 1 (no worker runs more than s steps ahead of the slowest).
// Thread-safety: none (the server's request loop owns it).
#ifndef MOEREC_PS_STEP_CLOCK_H_
#define MOEREC_PS_STEP_CLOCK_H_

#include <cstdint>
#include <vector>

#include "proto/config.pb.h"

namespace moerec {

class StepClock {
 public:
  StepClock(ClusterConfig::SyncMode mode, int num_workers, int staleness);

  ClusterConfig::SyncMode mode() const { return mode_; }
  int num_workers() const { return static_cast<int>(pushed_.size()); }

  // Records that `worker` pushed `step` (pushes of a worker come in step order).
  void Pushed(int worker, int64_t step);
  // BSP: the step whose pushes are complete and not yet applied, or -1.
  int64_t CompleteStep() const;
  // BSP: marks CompleteStep() applied.
  void Applied();
  // Steps fully applied (BSP), or the number of steps every worker has pushed (ASP/SSP).
  int64_t applied() const { return applied_; }

  // Starts over at `step`: every worker has pushed, and (BSP) the server has applied, every
  // step before it. Used when the job resumes from a checkpoint.
  void Reset(int64_t step);

  // May a pull at `step` be served now?
  bool PullReady(int64_t step) const;

 private:
  int64_t MinPushed() const;  // steps pushed by the slowest worker

  const ClusterConfig::SyncMode mode_;
  const int staleness_;
  std::vector<int64_t> pushed_;  // (W) steps pushed per worker (last step + 1)
  int64_t applied_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_STEP_CLOCK_H_
