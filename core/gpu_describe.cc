#include <cstdio>

#include "core/gpu.h"

namespace moerec {

std::string DescribeGpus(const GpuInventory& inventory) {
  if (inventory.gpus.empty()) return "no GPU: " + inventory.why_none;
  std::string out =
      std::to_string(inventory.gpus.size()) + (inventory.gpus.size() == 1 ? " GPU:" : " GPUs:");
  for (size_t i = 0; i < inventory.gpus.size(); ++i) {
    const GpuInfo& g = inventory.gpus[i];
    char line[256];
    std::snprintf(line, sizeof(line), "%s %d %s (%.1f GiB, sm_%d%d, %d SMs)", i ? ";" : "", g.index,
                  g.name.c_str(), static_cast<double>(g.memory_bytes) / (1 << 30), g.compute_major,
                  g.compute_minor, g.multiprocessors);
    out += line;
  }
  return out;
}

}  // namespace moerec
