// CUDA twins of core/loss.h. Dimension legend: B samples, T tasks (n = B * T values for the
// pointwise losses); Q query rows, C candidates (z, teacher, student, dz: (Q, C)).
// Every loss writes its gradient in the same pass as its loss terms: one body per element
// (pointwise losses) or per row (candidate losses), in double as the CPU kernels.
// The returned sum: the terms go to a device scratch array of doubles, which two launches
// reduce in an order fixed by n alone (partial sums of kSumChunk consecutive terms, then one
// body adding the partials in order), and one synchronous copy brings the double back. So the
// sum is deterministic; it differs from the CPU's sequential sum only by double rounding.
#include <algorithm>
#include <cmath>

#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

constexpr int64_t kSumChunk = 1024;

// Device scratch for n doubles, released with the object (after the synchronous copy of the
// sum, so no launch still reads it).
class DoubleScratch {
 public:
  DoubleScratch(GpuResources* gpu, int64_t n)
      : gpu_(gpu), data_(static_cast<double*>(gpu->Allocate(std::max<int64_t>(n, 1) * 8))) {}
  ~DoubleScratch() { gpu_->Free(data_); }
  DoubleScratch(const DoubleScratch&) = delete;
  DoubleScratch& operator=(const DoubleScratch&) = delete;
  double* data() const { return data_; }

 private:
  GpuResources* gpu_;
  double* data_;
};

// sum_i terms[i], i in [0, n), back on the host.
double SumTerms(GpuResources* gpu, const double* terms, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  DoubleScratch partial(gpu, chunks + 1);
  double* p = partial.data();
  ForEach(gpu, chunks, [=] __host__ __device__(int64_t c) {
    const int64_t end = (c + 1) * kSumChunk < n ? (c + 1) * kSumChunk : n;
    double s = 0.0;
    for (int64_t i = c * kSumChunk; i < end; ++i) s += terms[i];
    p[c] = s;
  });
  ForEach(gpu, 1, [=] __host__ __device__(int64_t) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += p[c];
    p[chunks] = s;
  });
  double total = 0.0;
  gpu->CopySync(&total, p + chunks, sizeof(double), GpuResources::kDeviceToHost);
  return total;
}

// log sum_c exp(x_c * inv_tau) over the valid entries of a row (valid null = all), shifted by
// the maximum, as the CPU kernel's RowLogSumExp.
__host__ __device__ double RowLogSumExp(const float* x, int64_t n, const uint8_t* valid,
                                        double inv_tau) {
  double m = -INFINITY;
  for (int64_t c = 0; c < n; ++c) {
    if (valid == nullptr || valid[c] != 0) m = fmax(m, x[c] * inv_tau);
  }
  double sum = 0.0;
  for (int64_t c = 0; c < n; ++c) {
    if (valid == nullptr || valid[c] != 0) sum += exp(x[c] * inv_tau - m);
  }
  return m + log(sum);
}

// log sigma(x) = -softplus(-x), stably.
__host__ __device__ double LogSigmoid(double x) { return -log1p(exp(-fabs(x))) - fmax(-x, 0.0); }

}  // namespace

double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits,
                        GpuResources* device) {
  CHECK(device != nullptr);
  if (n <= 0) return 0.0;
  DoubleScratch terms(device, n);
  double* t = terms.data();
  ForEach(device, n, [=] __host__ __device__(int64_t i) {
    const float z = logits[i];
    // One exp serves both the probability and the loss, and never overflows: e in (0, 1].
    const float e = expf(-fabsf(z));
    const float p = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    if (probs != nullptr) probs[i] = p;
    if (mask != nullptr && mask[i] == 0) {
      if (dlogits != nullptr) dlogits[i] = 0.0f;
      t[i] = 0.0;
      return;
    }
    const float w = weight != nullptr ? weight[i] : 1.0f;
    const double zd = z;
    t[i] = w * (fmax(zd, 0.0) - zd * labels[i] + log1p(static_cast<double>(e)));
    if (dlogits != nullptr) dlogits[i] = w * (p - labels[i]);
  });
  return SumTerms(device, t, n);
}

double CandidateSoftmaxXent(ConstMatView z, const int64_t* target, const uint8_t* valid,
                            float weight, MatView dz) {
  CHECK(z.rows == dz.rows && z.cols == dz.cols);
  GpuResources* gpu = CommonDevice(z, dz);
  if (z.rows == 0) return 0.0;
  DoubleScratch rows(gpu, z.rows);
  double* row_loss = rows.data();
  ForEach(gpu, z.rows, [=] __host__ __device__(int64_t q) {
    const float* zq = z.data + q * z.ld;
    const uint8_t* vq = valid == nullptr ? nullptr : valid + q * z.cols;
    const double lse = RowLogSumExp(zq, z.cols, vq, 1.0);
    row_loss[q] = weight * (lse - zq[target[q]]);
    float* dq = dz.data + q * dz.ld;
    for (int64_t c = 0; c < z.cols; ++c) {
      const bool ok = vq == nullptr || vq[c] != 0;
      dq[c] = ok ? static_cast<float>(weight * exp(zq[c] - lse)) : 0.0f;
    }
    dq[target[q]] -= weight;
  });
  return SumTerms(gpu, row_loss, z.rows);
}

double SoftmaxKl(ConstMatView teacher, ConstMatView student, float tau, float weight,
                 MatView dstudent) {
  CHECK(teacher.rows == student.rows && teacher.cols == student.cols);
  CHECK(dstudent.rows == student.rows && dstudent.cols == student.cols);
  GpuResources* gpu = CommonDevice(teacher, student, dstudent);
  if (student.rows == 0) return 0.0;
  const double inv_tau = 1.0 / tau;
  DoubleScratch rows(gpu, student.rows);
  double* row_loss = rows.data();
  ForEach(gpu, student.rows, [=] __host__ __device__(int64_t q) {
    const float* t = teacher.data + q * teacher.ld;
    const float* s = student.data + q * student.ld;
    const double lt = RowLogSumExp(t, student.cols, nullptr, inv_tau);
    const double ls = RowLogSumExp(s, student.cols, nullptr, inv_tau);
    double kl = 0.0;
    float* d = dstudent.data + q * dstudent.ld;
    for (int64_t c = 0; c < student.cols; ++c) {
      const double log_p = t[c] * inv_tau - lt;
      const double log_r = s[c] * inv_tau - ls;
      const double p = exp(log_p);
      kl += p * (log_p - log_r);
      d[c] = static_cast<float>(weight * (exp(log_r) - p) * inv_tau);
    }
    row_loss[q] = weight * kl;
  });
  return SumTerms(gpu, row_loss, student.rows);
}

double SigmoidKl(const float* teacher, const float* student, int64_t n, float tau, float weight,
                 float* dstudent, GpuResources* device) {
  CHECK(device != nullptr);
  if (n <= 0) return 0.0;
  const double inv_tau = 1.0 / tau;
  DoubleScratch terms(device, n);
  double* kl = terms.data();
  ForEach(device, n, [=] __host__ __device__(int64_t i) {
    const double a = teacher[i] * inv_tau;
    const double b = student[i] * inv_tau;
    const double p = 1.0 / (1.0 + exp(-a));
    const double log_p = LogSigmoid(a), log_1p = LogSigmoid(-a);
    const double log_r = LogSigmoid(b), log_1r = LogSigmoid(-b);
    kl[i] = weight * (p * (log_p - log_r) + (1.0 - p) * (log_1p - log_1r));
    const double r = 1.0 / (1.0 + exp(-b));
    dstudent[i] = static_cast<float>(weight * (r - p) * inv_tau);
  });
  return SumTerms(device, kl, n);
}

}  // namespace gpu
}  // namespace moerec
