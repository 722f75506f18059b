// How a CPU kernel of the kernel layer hands a call whose views are on a GPU to its CUDA twin
// (core/gpu/kernels.h): the first statement of the CPU function is
//   MOEREC_GPU_DISPATCH(x, gpu::ReluForward(x, y));
// which runs the CUDA kernel and returns when x is on a device (x: any view argument the call
// always has; the CUDA side checks that the others are on the same device). Kernels that return
// a value use MOEREC_GPU_DISPATCH_RETURN. Kernels over raw arrays take the device as an explicit
// argument (null = host) and dispatch on it the same way. Without CUDA no view can be on a
// device (no GpuResources can be made), so the macros reduce to a check.
#ifndef MOEREC_CORE_INTERNAL_GPU_DISPATCH_H_
#define MOEREC_CORE_INTERNAL_GPU_DISPATCH_H_

#include <glog/logging.h>

#if MOEREC_HAVE_CUDA
#include "core/gpu/kernels.h"
#define MOEREC_GPU_DISPATCH(device_of, call) \
  do {                                       \
    if ((device_of).gpu != nullptr) {        \
      call;                                  \
      return;                                \
    }                                        \
  } while (0)
#define MOEREC_GPU_DISPATCH_RETURN(device_of, call) \
  do {                                              \
    if ((device_of).gpu != nullptr) return call;    \
  } while (0)
#else
#define MOEREC_GPU_DISPATCH(device_of, call) \
  DCHECK((device_of).gpu == nullptr) << "a device view in a build without CUDA"
#define MOEREC_GPU_DISPATCH_RETURN(device_of, call) \
  DCHECK((device_of).gpu == nullptr) << "a device view in a build without CUDA"
#endif

#endif  // MOEREC_CORE_INTERNAL_GPU_DISPATCH_H_
