#include "worker/memory_check.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace moerec {
namespace {

std::string Bytes(int64_t b) {
  char buf[64];
  if (b >= (int64_t{1} << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f GiB", static_cast<double>(b) / (1 << 30));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1 << 20));
  }
  return buf;
}

int OptimizerStateFloats(const OptimizerConfig& c) {
  switch (c.type()) {
    case OptimizerConfig::ADAM:
    case OptimizerConfig::ADAMW:
      return 2;
    case OptimizerConfig::ADAGRAD:
      return 1;
    case OptimizerConfig::SGD:
      return c.momentum() > 0 ? 1 : 0;
  }
  return 2;
}

}  // namespace

WorkerMemory EstimateWorkerMemory(const JobConfig& config, const ModelShape& shape) {
  const ModelSize size = EstimateModelSize(config.model(), shape);
  const int64_t f = sizeof(float);
  WorkerMemory m;
  m.parameter_bytes = 3 * size.parameters * f;
  m.optimizer_bytes = OptimizerStateFloats(config.optimizer()) * size.parameters * f;
  m.activation_bytes =
      static_cast<int64_t>(config.data().reader().batch_size()) * size.activations_per_sample * f;
  return m;
}

int64_t AvailableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    fields >> kib;
    return kib < 0 ? -1 : kib * 1024;
  }
  return -1;
}

Status CheckWorkerMemory(const JobConfig& config, const ModelShape& shape,
                         int64_t available_bytes) {
  const WorkerMemory m = EstimateWorkerMemory(config, shape);
  if (available_bytes < 0 || m.total() <= available_bytes) return Status::OK();
  return ResourceExhausted(
      "model: a worker would need " + Bytes(m.total()) +
      " (parameters, gradients and the "
      "best-state copy " +
      Bytes(m.parameter_bytes) + ", optimizer state " + Bytes(m.optimizer_bytes) +
      ", activations of a batch of " + std::to_string(config.data().reader().batch_size()) + " " +
      Bytes(m.activation_bytes) + "), and this machine has " + Bytes(available_bytes) +
      " available; make the layers narrower, the batch smaller, or use fewer experts");
}

}  // namespace moerec
