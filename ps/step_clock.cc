#include "ps/step_clock.h"

#include <glog/logging.h>

#include <algorithm>

namespace moerec {

StepClock::StepClock(ClusterConfig::SyncMode mode, int num_workers, int staleness)
    : mode_(mode), staleness_(staleness), pushed_(num_workers, 0) {
  CHECK_GE(num_workers, 1);
  CHECK_GE(staleness, 0);
}

void StepClock::Pushed(int worker, int64_t step) {
  pushed_[worker] = std::max(pushed_[worker], step + 1);
  if (mode_ != ClusterConfig::BSP) applied_ = MinPushed();
}

int64_t StepClock::MinPushed() const { return *std::min_element(pushed_.begin(), pushed_.end()); }

int64_t StepClock::CompleteStep() const {
  if (mode_ != ClusterConfig::BSP) return -1;
  return MinPushed() > applied_ ? applied_ : -1;
}

void StepClock::Applied() {
  CHECK_EQ(mode_, ClusterConfig::BSP);
  CHECK_GT(MinPushed(), applied_);
  ++applied_;
}

void StepClock::Reset(int64_t step) {
  std::fill(pushed_.begin(), pushed_.end(), step);
  applied_ = step;
}

bool StepClock::PullReady(int64_t step) const {
  switch (mode_) {
    case ClusterConfig::BSP:
      return applied_ >= step;
    case ClusterConfig::ASP:
      return true;
    case ClusterConfig::SSP:
      return MinPushed() >= step - staleness_;
  }
  return true;
}

}  // namespace moerec
