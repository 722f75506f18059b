// The mmoe-ref benchmark (DESIGN.md §8): full training steps of the reference MMoE through the
// trainer's own step pipeline (StepRunner over in-process tables), on in-memory random batches
// so that only the step is timed (every embedding row is created before timing, as PyTorch's
// tables are preallocated; lazy creation is measured by `bench ps`), side by side with PyTorch
// on the same workload
// (bench/mmoe_ref_torch.py, run as a child process in the same run) and with this machine's
// sgemm rate, which bounds the achievable samples/s.
//
// Workload: 16 sparse slots x 100k ids, one id per slot, sum pooling, dim 16; a domain
// embedding (3 domains, dim 16) -> input 272; 8 experts 272 -> 256 -> 128 ReLU; 2 tasks with
// softmax gates over the experts; towers 128 -> 64 -> 1; BCE; Adagrad (lr 0.05) on rows, Adam
// (lr 1e-3) on dense parameters; batch 1024.
#ifndef MOEREC_BENCH_MMOE_REF_H_
#define MOEREC_BENCH_MMOE_REF_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace moerec {

struct MmoeRefOptions {
  // "mmoe" (the workload above) or "m3oe": the same inputs, optimizers and batch through
  // M3oE — star layer 272 -> 128, representation 128 -> 256 and skip 272 -> 256 (LayerNorm,
  // ReLU), 4 shared + 3 domain + 2 task experts 256 -> 128 (LayerNorm, ReLU), a gate per
  // (domain, task) on stopgrad(h), the fusion, a tower 128 -> 64 (LayerNorm, ReLU) -> 1 per
  // (domain, task). The fusion scalars are architecture parameters: no optimizer steps them in
  // a training step (AUTOML mode steps them on held-out batches, not timed here), on either side.
  std::string workload = "mmoe";
  int threads = 2;  // compute threads for moerec (PyTorch tries 1 and 2, keeps the best)
  int steps = 100;  // timed steps
  int warmup = 10;  // untimed steps first
  int batch = 1024;
  bool torch = true;  // also run the PyTorch reference
  // "cpu", or "cuda": the dense model on GPU 0 (StepRunner's GPU worker), against PyTorch on the
  // same GPU in eager mode and under torch.compile, and against the device's GEMM rate.
  std::string device = "cpu";
  std::string python = "/usr/bin/python3";
  std::string torch_script;  // default: <source dir>/bench/mmoe_ref_torch.py
};

// Prints name=value lines to stdout; the last is samples_per_sec=<moerec's rate>.
Status RunMmoeRefBenchmark(const MmoeRefOptions& options);

// Runs a child command and returns its stdout; the value of the last "name=value" line whose
// name is `key` is put in *value (NaN when absent).
Status RunAndReadFigure(const std::string& command, const std::string& key, double* value,
                        std::string* output);

// The sgemm rate of this machine with the compute pool at `threads`, in GFLOP/s, measured on
// the reference workload's largest GEMM shape (1024 x 272 x 2048): the best of three windows
// filling `seconds`.
double MeasureSgemmGflops(int threads, double seconds);

// On GPU `gpu`: the fp32 GEMM rate (TFLOP/s) of an m x k by k x n product through the kernel
// layer (cuBLAS), the best of three windows filling `seconds`.
double MeasureDeviceGemmTflops(GpuResources* gpu, int64_t m, int64_t n, int64_t k, double seconds);

// On GPU `gpu`: the achieved TFLOP/s of the reference MMoE's expert GEMMs at `batch` rows (the
// fused first layer 272 -> 8 x 256 and the eight 256 -> 128 second layers, forward and both
// backward products), timed alone.
double MeasureExpertGemmTflops(GpuResources* gpu, int64_t batch, double seconds);

}  // namespace moerec

#endif  // MOEREC_BENCH_MMOE_REF_H_
