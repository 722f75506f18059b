#include "worker/dense_sync.h"

#include <cstring>

namespace moerec {
namespace {

// Replicated parameters are all-reduced; an expert-local one's gradient is already complete.
bool Synced(const Parameter& p) { return !p.is_buffer && !p.expert_local && !p.fixed; }

}  // namespace

Status DenseSync::BroadcastParameters() {
  if (workers_->size() == 1) return Status::OK();
  for (const auto& p : params_->params()) {
    if (p->expert_local) continue;  // each worker holds different ones
    RETURN_IF_ERROR(workers_->Broadcast(p->value.data(), p->value.size() * sizeof(float), 0));
  }
  return Status::OK();
}

Status DenseSync::AllReduceGradients() {
  if (workers_->size() == 1) return Status::OK();
  size_t total = 0;
  for (const auto& p : params_->params()) {
    if (Synced(*p)) total += p->grad.size();
  }
  buffer_.resize(total);
  size_t at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    std::memcpy(buffer_.data() + at, p->grad.data(), p->grad.size() * sizeof(float));
    at += p->grad.size();
  }
  RETURN_IF_ERROR(workers_->AllReduceSum(buffer_.data(), static_cast<int64_t>(total)));
  at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    std::memcpy(p->grad.data(), buffer_.data() + at, p->grad.size() * sizeof(float));
    at += p->grad.size();
  }
  return Status::OK();
}

}  // namespace moerec
