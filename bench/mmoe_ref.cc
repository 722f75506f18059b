#include "bench/mmoe_ref.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "comm/communicator.h"
#include "core/gpu/resources.h"
#include "core/linear.h"
#include "core/parallel.h"
#include "core/random.h"
#include "embedding/table_spec.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "worker/step_runner.h"

#ifndef MOEREC_SOURCE_DIR
#define MOEREC_SOURCE_DIR "."
#endif

namespace moerec {
namespace {

constexpr int kSlots = 16;
constexpr int kIdsPerSlot = 100000;
constexpr int kDomains = 3;
constexpr int kTasks = 2;
constexpr int kPoolBatches = 50;

using Clock = std::chrono::steady_clock;

// The model section of each workload (mmoe_ref.h).
std::string ModelText(const std::string& workload) {
  if (workload == "m3oe") {
    return "model { domain_embedding_dim: 16 m3oe { star_dim: 128 "
           "  representation { dims: 256 layer_norm: true } num_shared_experts: 4 "
           "  expert { dims: 128 layer_norm: true } tower { dims: 64 layer_norm: true } } } ";
  }
  return "model { domain_embedding_dim: 16 mmoe { num_experts: 8 "
         "  expert { dims: 256 dims: 128 } tower { dims: 64 } } } ";
}

std::string ReferenceConfigText(const std::string& workload, int batch) {
  std::string slots;
  for (int s = 0; s < kSlots; ++s) slots += "slots { name: \"s" + std::to_string(s) + "\" } ";
  return "name: \"" + workload +
         "-ref\" "
         "data { num_domains: 3 num_tasks: 2 " +
         slots + " train: \"unused\" reader { batch_size: " + std::to_string(batch) +
         " } } "
         "embedding { dim: 16 optimizer { type: ADAGRAD learning_rate: 0.05 epsilon: 1e-10 } } " +
         ModelText(workload) +
         "optimizer { type: ADAM learning_rate: 1e-3 } "
         "train { seed: 1 }";
}

// A pool of random batches like the PyTorch script's: uniform ids, domains and labels.
std::vector<Batch> MakePool(int batch_size) {
  std::vector<Batch> pool(kPoolBatches);
  Rng rng(5);
  for (Batch& b : pool) {
    b.Reset(kTasks, kSlots, 0);
    for (int i = 0; i < batch_size; ++i) {
      b.domain.push_back(static_cast<int32_t>(rng.Below(kDomains)));
      b.user.push_back(i);
      for (int t = 0; t < kTasks; ++t) {
        b.labels.push_back(static_cast<float>(rng.Below(2)));
        b.label_mask.push_back(1);
      }
      for (int s = 0; s < kSlots; ++s) {
        b.ids[s].push_back(rng.Below(kIdsPerSlot));
        b.offsets[s].push_back(static_cast<uint32_t>(b.ids[s].size()));
      }
    }
    b.size = batch_size;
  }
  return pool;
}

// Dense FLOPs of one sample's forward + backward: each GEMM (m x k x n) costs 2mkn forward and
// twice that backward (dW and dx); the first layer's dx is needed for the embedding gradients.
double FlopsPerSample(const std::string& workload) {
  const double input = kSlots * 16 + 16;
  if (workload == "m3oe") {
    const double experts = 4 + kDomains + kTasks;
    const double forward = 2 * input * 128                      // star layer
                           + 2 * 128 * 256.0                    // rep
                           + 2 * input * 256                    // skip
                           + 2 * 256 * experts * 128            // shared, domain and task experts
                           + 2 * 256 * kTasks * 4               // (domain, task) gates
                           + kTasks * (2 * 128 * 64 + 2 * 64);  // a tower per (domain, task)
    return 3 * forward;
  }
  double forward = 2 * input * 8 * 256                  // experts, layer 1 (fused)
                   + 2 * 8 * 256 * 128.0                // experts, layer 2
                   + 2 * input * kTasks * 8             // gates
                   + kTasks * (2 * 128 * 64 + 2 * 64);  // towers
  return 3 * forward;
}

}  // namespace

double MeasureSgemmGflops(int threads, double seconds) {
  SetComputeThreads(threads);
  Tensor a({1024, 272}), b({272, 2048}), c({1024, 2048});
  Rng rng(1);
  for (int64_t i = 0; i < a.size(); ++i) a[i] = rng.UniformFloat();
  for (int64_t i = 0; i < b.size(); ++i) b[i] = rng.UniformFloat();
  Gemm(false, false, 1.0f, a.view(), b.view(), 0.0f, c.view());  // warm up
  // The best of three windows: the machine's rate, not a moment when something else ran.
  double best = 0;
  for (int window = 0; window < 3; ++window) {
    int64_t reps = 0;
    const Clock::time_point start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds / 3) {
      Gemm(false, false, 1.0f, a.view(), b.view(), 0.0f, c.view());
      ++reps;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::max(best, 2.0 * 1024 * 272 * 2048 * reps / elapsed / 1e9);
  }
  return best;
}

namespace {

// Calls fn until `seconds` / 3 have passed, three times, and returns the best rate of
// flop_per_call (the device is synchronised around each window).
double BestRate(GpuResources* gpu, double seconds, double flop_per_call,
                const std::function<void()>& fn) {
  fn();
  gpu->Synchronize();
  double best = 0;
  for (int window = 0; window < 3; ++window) {
    int64_t reps = 0;
    const Clock::time_point start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds / 3) {
      for (int i = 0; i < 10; ++i) fn();
      reps += 10;
      gpu->Synchronize();
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::max(best, flop_per_call * reps / elapsed / 1e12);
  }
  return best;
}

}  // namespace

double MeasureDeviceGemmTflops(GpuResources* gpu, int64_t m, int64_t n, int64_t k, double seconds) {
  Tensor a({m, k}, gpu), b({k, n}, gpu), c({m, n}, gpu);
  a.Fill(0.5f);
  b.Fill(0.25f);
  return BestRate(gpu, seconds, 2.0 * m * n * k,
                  [&] { Gemm(false, false, 1.0f, a.view(), b.view(), 0.0f, c.view()); });
}

double MeasureExpertGemmTflops(GpuResources* gpu, int64_t batch, double seconds) {
  constexpr int64_t kIn = 272, kExperts = 8, kHidden = 256, kOut = 128;
  Tensor x({batch, kIn}, gpu), w1({kIn, kExperts * kHidden}, gpu),
      h({batch, kExperts * kHidden}, gpu);
  Tensor w2({kExperts, kHidden, kOut}, gpu), y({batch, kExperts * kOut}, gpu);
  Tensor dw1 = w1, dw2 = w2, dh = h, dx = x;
  for (Tensor* t : {&x, &w1, &h, &w2, &y}) t->Fill(0.01f);
  const double flop =
      3 * (2.0 * batch * kIn * kExperts * kHidden + kExperts * 2.0 * batch * kHidden * kOut);
  return BestRate(gpu, seconds, flop, [&] {
    Gemm(false, false, 1.0f, x.view(), w1.view(), 0.0f, h.view());
    Gemm(true, false, 1.0f, x.view(), h.view(), 1.0f, dw1.view());
    Gemm(false, true, 1.0f, h.view(), w1.view(), 0.0f, dx.view());
    for (int64_t e = 0; e < kExperts; ++e) {
      const ConstMatView he = h.view().Cols(e * kHidden, kHidden);
      const ConstMatView we(w2.data() + e * kHidden * kOut, kHidden, kOut, kOut, gpu);
      const MatView dwe{dw2.data() + e * kHidden * kOut, kHidden, kOut, kOut, gpu};
      Gemm(false, false, 1.0f, he, we, 0.0f, y.view().Cols(e * kOut, kOut));
      Gemm(true, false, 1.0f, he, y.view().Cols(e * kOut, kOut), 1.0f, dwe);
      Gemm(false, true, 1.0f, y.view().Cols(e * kOut, kOut), we, 0.0f,
           dh.view().Cols(e * kHidden, kHidden));
    }
  });
}

Status RunAndReadFigure(const std::string& command, const std::string& key, double* value,
                        std::string* output) {
  *value = std::nan("");
  output->clear();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return ErrnoError("run " + command);
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output->append(buf);
  const int rc = pclose(pipe);
  if (rc != 0) {
    return Unavailable("`" + command + "` exited with status " + std::to_string(rc) + ": " +
                       output->substr(output->size() > 600 ? output->size() - 600 : 0));
  }
  size_t pos = 0;
  while (pos < output->size()) {
    size_t end = output->find('\n', pos);
    if (end == std::string::npos) end = output->size();
    const std::string line = output->substr(pos, end - pos);
    if (line.rfind(key + "=", 0) == 0) *value = std::atof(line.c_str() + key.size() + 1);
    pos = end + 1;
  }
  return Status::OK();
}

Status RunMmoeRefBenchmark(const MmoeRefOptions& options) {
  JobConfig config;
  const std::string name = options.workload + "-ref";
  if (options.workload != "mmoe" && options.workload != "m3oe") {
    return InvalidArgument("bench: unknown workload " + options.workload + " (mmoe, m3oe)");
  }
  RETURN_IF_ERROR(
      ParseTextProto(ReferenceConfigText(options.workload, options.batch), name, &config));
  // The data section's defaults apply as LoadJobConfig would apply them.
  for (int s = 0; s < kSlots; ++s) {
    TableConfig* t = config.add_tables();
    t->set_name("s" + std::to_string(s));
    t->set_dim(config.embedding().dim());
    *t->mutable_optimizer() = config.embedding().optimizer();
    *t->mutable_initializer() = config.embedding().initializer();
  }
  RETURN_IF_ERROR(ValidateJobConfig(config, name));

  if (options.device != "cpu" && options.device != "cuda") {
    return InvalidArgument("bench: --device must be cpu or cuda, got '" + options.device + "'");
  }
  const bool on_gpu = options.device == "cuda";
  std::unique_ptr<GpuResources> gpu;
  if (on_gpu) {
    auto made = GpuResources::Create(GpuResourcesOptions{});
    if (!made.ok()) return Unavailable("bench --device=cuda: " + made.status().message());
    gpu = std::move(made.value());
  }
  // The machine's (or the device's) GEMM rate first, while nothing else runs.
  const double gflops = on_gpu ? 1e3 * MeasureDeviceGemmTflops(gpu.get(), 8192, 8192, 8192, 3.0)
                               : MeasureSgemmGflops(options.threads, 1.5);

  SetComputeThreads(options.threads);
  ASSIGN_OR_RETURN(auto store, LocalStore::Open(TableSpecsFromConfig(config)));
  SelfCommunicator self;
  ASSIGN_OR_RETURN(auto runner, StepRunner::Create(config, store.get(), &self, nullptr, gpu.get()));
  // Every row exists before timing, as in the PyTorch script's preallocated tables (creating
  // rows lazily on first pull is what a parameter server does; it is measured by bench ps).
  for (int s = 0; s < kSlots; ++s) {
    std::vector<TableRequest> all(1);
    all[0].table = s;
    for (uint64_t id = 0; id < kIdsPerSlot; ++id) all[0].keys.push_back(id);
    all[0].values.resize(all[0].keys.size() * 16);
    RETURN_IF_ERROR(store->Wait(store->Pull(&all, 0, true)));
  }
  std::vector<Batch> pool = MakePool(options.batch);
  Batch batch;
  int64_t step = 0;
  double loss = 0;
  for (int i = 0; i < options.warmup; ++i, ++step) {
    batch = pool[step % pool.size()];
    ASSIGN_OR_RETURN(loss, runner->Train(&batch, step));
  }
  runner->ClearTimes();
  double copy_seconds = 0;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < options.steps; ++i, ++step) {
    const Clock::time_point c0 = Clock::now();
    batch = pool[step % pool.size()];  // the reader's role; not part of the step
    copy_seconds += std::chrono::duration<double>(Clock::now() - c0).count();
    ASSIGN_OR_RETURN(loss, runner->Train(&batch, step));
  }
  if (gpu != nullptr) gpu->Synchronize();
  const double total = std::chrono::duration<double>(Clock::now() - start).count() - copy_seconds;
  const StepTimes& t = runner->times();
  const double rate = static_cast<double>(options.batch) * options.steps / total;
  const double flops = FlopsPerSample(options.workload);
  const double ceiling = gflops * 1e9 / flops;

  std::printf("workload=%s\n", name.c_str());
  std::printf("device=%s\n", on_gpu ? gpu->Describe().c_str() : "cpu");
  std::printf("threads=%d\nbatch=%d\nsteps=%d\nwarmup=%d\n", options.threads, options.batch,
              options.steps, options.warmup);
  std::printf("final_loss=%.5f\n", loss);
  std::printf("ms_per_step=%.3f\n", 1000 * total / options.steps);
  const double per = 1000.0 / options.steps;
  std::printf("ms_data=%.3f\nms_pull=%.3f\nms_compute=%.3f\nms_push=%.3f\nms_dense=%.3f\n",
              t.data * per, t.pull * per, t.compute * per, t.push * per, t.dense * per);
  std::printf("mflop_per_sample=%.3f\n", flops / 1e6);
  std::printf("sgemm_gflops=%.1f\n", gflops);
  if (on_gpu) {
    const double expert = MeasureExpertGemmTflops(gpu.get(), options.batch, 3.0);
    std::printf("device_sgemm_tflops=%.2f\n", gflops / 1e3);
    std::printf("expert_gemm_tflops=%.2f\n", expert);
    std::printf("expert_gemm_fraction_of_device=%.3f\n", expert / (gflops / 1e3));
  }
  std::printf("ceiling_samples_per_sec=%.0f\n", ceiling);
  std::printf("fraction_of_ceiling=%.3f\n", rate / ceiling);

  if (options.torch && on_gpu) {
    const std::string script = options.torch_script.empty()
                                   ? std::string(MOEREC_SOURCE_DIR) + "/bench/mmoe_ref_torch.py"
                                   : options.torch_script;
    for (const bool compiled : {false, true}) {
      const std::string cmd = options.python + " " + script + " --device cuda --steps " +
                              std::to_string(std::max(20, options.steps / 2)) + " --batch " +
                              std::to_string(options.batch) + " --model " + options.workload +
                              (compiled ? " --compile" : "") + " 2>&1";
      double value = 0;
      std::string out;
      const char* label = compiled ? "torch_compile" : "torch_eager";
      Status s = RunAndReadFigure(cmd, "samples_per_sec", &value, &out);
      if (!s.ok() || !(value > 0)) {
        const std::string why =
            s.ok() ? out.substr(out.size() > 300 ? out.size() - 300 : 0) : s.message();
        std::printf("%s_error=%s\n", label, why.c_str());
        continue;
      }
      std::printf("%s_samples_per_sec=%.1f\n", label, value);
      std::printf("speedup_vs_%s=%.2f\n", label, rate / value);
    }
  } else if (options.torch) {
    const std::string script = options.torch_script.empty()
                                   ? std::string(MOEREC_SOURCE_DIR) + "/bench/mmoe_ref_torch.py"
                                   : options.torch_script;
    double best = 0;
    int best_threads = 0;
    for (int threads = 1; threads <= std::max(1, options.threads); ++threads) {
      const std::string cmd =
          options.python + " " + script + " --threads " + std::to_string(threads) + " --steps " +
          std::to_string(std::max(20, options.steps / 2)) + " --batch " +
          std::to_string(options.batch) + " --model " + options.workload + " 2>&1";
      double value = 0;
      std::string out;
      Status s = RunAndReadFigure(cmd, "samples_per_sec", &value, &out);
      if (!s.ok()) {
        std::printf("torch_error=%s\n", s.message().substr(0, 300).c_str());
        continue;
      }
      std::printf("torch_threads_%d_samples_per_sec=%.1f\n", threads, value);
      if (value > best) {
        best = value;
        best_threads = threads;
      }
    }
    if (best > 0) {
      std::printf("torch_best_threads=%d\ntorch_samples_per_sec=%.1f\n", best_threads, best);
      std::printf("speedup_vs_torch=%.2f\n", rate / best);
    }
  }
  std::printf("samples_per_sec=%.1f\n", rate);
  std::fflush(stdout);
  return Status::OK();
}

}  // namespace moerec
