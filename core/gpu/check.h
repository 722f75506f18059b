// Checked calls of the CUDA runtime, cuBLAS and NCCL: MOEREC_GPU_CHECK(call) stops the process
// with the call's text, its error name and string, the file and the line when the call fails;
// MOEREC_GPU_RETURN_IF_ERROR(call) returns that message as an Internal status instead (for
// setup paths that report to their caller: opening a device, creating an NCCL communicator).
// Include only from CUDA-aware sources (.cu, or .cc files built with MOEREC_HAVE_CUDA).
#ifndef MOEREC_CORE_GPU_CHECK_H_
#define MOEREC_CORE_GPU_CHECK_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <glog/logging.h>

#include <string>

#include "core/status.h"

#if __has_include(<nccl.h>)
#include <nccl.h>
#define MOEREC_GPU_CHECK_HAS_NCCL 1
#endif

namespace moerec {
namespace gpu_check {

inline bool Failed(cudaError_t e) { return e != cudaSuccess; }
inline std::string Describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}
inline bool Failed(cublasStatus_t e) { return e != CUBLAS_STATUS_SUCCESS; }
inline std::string Describe(cublasStatus_t e) {
  return std::string(cublasGetStatusName(e)) + ": " + cublasGetStatusString(e);
}
#ifdef MOEREC_GPU_CHECK_HAS_NCCL
inline bool Failed(ncclResult_t e) { return e != ncclSuccess && e != ncclInProgress; }
inline std::string Describe(ncclResult_t e) {
  return std::string("ncclResult ") + std::to_string(static_cast<int>(e)) + ": " +
         ncclGetErrorString(e);
}
#endif

inline std::string Message(const char* call, const std::string& what, const char* file, int line) {
  return std::string(call) + " failed (" + what + ") at " + file + ":" + std::to_string(line);
}

}  // namespace gpu_check
}  // namespace moerec

#define MOEREC_GPU_CHECK(call)                                                           \
  do {                                                                                   \
    const auto moerec_gpu_result_ = (call);                                              \
    if (::moerec::gpu_check::Failed(moerec_gpu_result_)) {                               \
      LOG(FATAL) << ::moerec::gpu_check::Message(                                        \
          #call, ::moerec::gpu_check::Describe(moerec_gpu_result_), __FILE__, __LINE__); \
    }                                                                                    \
  } while (0)

#define MOEREC_GPU_RETURN_IF_ERROR(call)                                                  \
  do {                                                                                    \
    const auto moerec_gpu_result_ = (call);                                               \
    if (::moerec::gpu_check::Failed(moerec_gpu_result_)) {                                \
      return ::moerec::Internal(::moerec::gpu_check::Message(                             \
          #call, ::moerec::gpu_check::Describe(moerec_gpu_result_), __FILE__, __LINE__)); \
    }                                                                                     \
  } while (0)

#endif  // MOEREC_CORE_GPU_CHECK_H_
