// core/gpu.h for builds without CUDA (MOEREC_CUDA=OFF).
#include "core/gpu.h"

namespace moerec {

GpuInventory ListGpus() {
  GpuInventory inventory;
  inventory.why_none = "built without CUDA (MOEREC_CUDA=OFF)";
  return inventory;
}

}  // namespace moerec
