#include "worker/dense_sync.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstring>

#include "core/gpu/resources.h"

namespace moerec {
namespace {

// Replicated parameters are all-reduced; an expert-local one's gradient is already complete.
bool Synced(const Parameter& p) { return !p.is_buffer && !p.expert_local && !p.fixed; }

// The floats of t into (or out of) host memory at `host`, wherever t lives (a GPU worker's
// tensors go through the host for the workers' MPI collectives).
void ToHost(const Tensor& t, float* host) {
  if (t.on_gpu()) {
    t.gpu()->CopySync(host, t.data(), t.size() * sizeof(float), GpuResources::kDeviceToHost);
  } else {
    std::memcpy(host, t.data(), t.size() * sizeof(float));
  }
}

void FromHost(const float* host, Tensor* t) {
  if (t->on_gpu()) {
    t->gpu()->CopySync(t->data(), host, t->size() * sizeof(float), GpuResources::kHostToDevice);
  } else {
    std::memcpy(t->data(), host, t->size() * sizeof(float));
  }
}

}  // namespace

Status DenseSync::BroadcastParameters() {
  if (workers_->size() == 1) return Status::OK();
  for (const auto& p : params_->params()) {
    if (p->expert_local) continue;  // each worker holds different ones
    if (p->value.on_gpu()) {
      Tensor host = p->value.To(nullptr);
      RETURN_IF_ERROR(workers_->Broadcast(host.data(), host.size() * sizeof(float), 0));
      p->value = host;
      continue;
    }
    RETURN_IF_ERROR(workers_->Broadcast(p->value.data(), p->value.size() * sizeof(float), 0));
  }
  return Status::OK();
}

Status DenseSync::AllReduceGradients() {
  if (workers_->size() == 1) return Status::OK();
  size_t total = 0;
  GpuResources* gpu = nullptr;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    total += p->grad.size();
    gpu = p->grad.gpu();
  }
  bytes_per_step_ = static_cast<int64_t>(total * sizeof(float));
  if (gpu != nullptr && device_workers_ != nullptr) {
    return AllReduceOnDevice(gpu, static_cast<int64_t>(total));
  }
  buffer_.resize(total);
  size_t at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    ToHost(p->grad, buffer_.data() + at);
    at += p->grad.size();
  }
  RETURN_IF_ERROR(workers_->AllReduceSum(buffer_.data(), static_cast<int64_t>(total)));
  at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    FromHost(buffer_.data() + at, &p->grad);
    at += p->grad.size();
  }
  return Status::OK();
}

Status DenseSync::AllReduceOnDevice(GpuResources* gpu, int64_t total) {
  if (device_buffer_.gpu() != gpu) device_buffer_ = Tensor({0}, gpu);
  device_buffer_.Resize({std::max<int64_t>(total, 1)});
  int64_t at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    CHECK(p->grad.gpu() == gpu) << p->name << ": a GPU worker's gradients are all on its device";
    gpu->Copy(device_buffer_.data() + at, p->grad.data(), p->grad.size() * sizeof(float),
              GpuResources::kOnDevice);
    at += p->grad.size();
  }
  // Ordered after the copies on the compute stream, which the NCCL backend launches on.
  RETURN_IF_ERROR(device_workers_->AllReduceSum(device_buffer_.data(), total));
  at = 0;
  for (const auto& p : params_->params()) {
    if (!Synced(*p)) continue;
    gpu->Copy(p->grad.data(), device_buffer_.data() + at, p->grad.size() * sizeof(float),
              GpuResources::kOnDevice);
    at += p->grad.size();
  }
  return Status::OK();
}

}  // namespace moerec
