#include "core/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/internal/gpu_dispatch.h"
#include "core/parallel.h"

namespace moerec {

double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits,
                        GpuResources* device) {
#if MOEREC_HAVE_CUDA
  if (device != nullptr) {
    return gpu::MaskedSigmoidBce(logits, labels, mask, weight, n, probs, dlogits, device);
  }
#endif
  CHECK(device == nullptr) << "a device array in a build without CUDA";
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float z = logits[i];
    // One exp serves both the probability and the loss, and never overflows: e in (0, 1].
    const float e = std::exp(-std::fabs(z));
    const float p = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    if (probs != nullptr) probs[i] = p;
    if (mask != nullptr && mask[i] == 0) {
      if (dlogits != nullptr) dlogits[i] = 0.0f;
      continue;
    }
    const float w = weight != nullptr ? weight[i] : 1.0f;
    // BCE with logits: max(z, 0) - z * y + log(1 + exp(-|z|)).
    const double zd = z;
    const double loss = std::max(zd, 0.0) - zd * labels[i] + std::log1p(static_cast<double>(e));
    total += w * loss;
    if (dlogits != nullptr) dlogits[i] = w * (p - labels[i]);
  }
  return total;
}

namespace {

// log sum_c exp(x_c / tau) over the valid entries of a row, and the maximum it is shifted by.
double RowLogSumExp(const float* x, int64_t n, const uint8_t* valid, double inv_tau) {
  double m = -INFINITY;
  for (int64_t c = 0; c < n; ++c) {
    if (valid == nullptr || valid[c] != 0) m = std::max(m, x[c] * inv_tau);
  }
  double sum = 0.0;
  for (int64_t c = 0; c < n; ++c) {
    if (valid == nullptr || valid[c] != 0) sum += std::exp(x[c] * inv_tau - m);
  }
  return m + std::log(sum);
}

// Sums per-row values in row order, so the total does not depend on the thread split.
double SumRows(const std::vector<double>& rows) {
  double total = 0.0;
  for (double v : rows) total += v;
  return total;
}

}  // namespace

double CandidateSoftmaxXent(ConstMatView z, const int64_t* target, const uint8_t* valid,
                            float weight, MatView dz) {
  MOEREC_GPU_DISPATCH_RETURN(z, gpu::CandidateSoftmaxXent(z, target, valid, weight, dz));
  std::vector<double> row_loss(z.rows);
  ParallelFor(z.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const float* zq = z.row(q);
      const uint8_t* vq = valid == nullptr ? nullptr : valid + q * z.cols;
      const double lse = RowLogSumExp(zq, z.cols, vq, 1.0);
      row_loss[q] = weight * (lse - zq[target[q]]);
      float* dq = dz.row(q);
      for (int64_t c = 0; c < z.cols; ++c) {
        const bool ok = vq == nullptr || vq[c] != 0;
        dq[c] = ok ? static_cast<float>(weight * std::exp(zq[c] - lse)) : 0.0f;
      }
      dq[target[q]] -= weight;
    }
  });
  return SumRows(row_loss);
}

double SoftmaxKl(ConstMatView teacher, ConstMatView student, float tau, float weight,
                 MatView dstudent) {
  MOEREC_GPU_DISPATCH_RETURN(student, gpu::SoftmaxKl(teacher, student, tau, weight, dstudent));
  const double inv_tau = 1.0 / tau;
  std::vector<double> row_loss(student.rows);
  ParallelFor(student.rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const float* t = teacher.row(q);
      const float* s = student.row(q);
      const double lt = RowLogSumExp(t, student.cols, nullptr, inv_tau);
      const double ls = RowLogSumExp(s, student.cols, nullptr, inv_tau);
      double kl = 0.0;
      float* d = dstudent.row(q);
      for (int64_t c = 0; c < student.cols; ++c) {
        const double log_p = t[c] * inv_tau - lt;
        const double log_r = s[c] * inv_tau - ls;
        const double p = std::exp(log_p);
        kl += p * (log_p - log_r);
        d[c] = static_cast<float>(weight * (std::exp(log_r) - p) * inv_tau);
      }
      row_loss[q] = weight * kl;
    }
  });
  return SumRows(row_loss);
}

double SigmoidKl(const float* teacher, const float* student, int64_t n, float tau, float weight,
                 float* dstudent, GpuResources* device) {
#if MOEREC_HAVE_CUDA
  if (device != nullptr) return gpu::SigmoidKl(teacher, student, n, tau, weight, dstudent, device);
#endif
  CHECK(device == nullptr) << "a device array in a build without CUDA";
  const double inv_tau = 1.0 / tau;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = teacher[i] * inv_tau;
    const double b = student[i] * inv_tau;
    // p log(p / r) + (1 - p) log((1 - p) / (1 - r)) with log sigma(x) = -softplus(-x).
    const double p = 1.0 / (1.0 + std::exp(-a));
    const double log_p = -std::log1p(std::exp(-std::fabs(a))) - std::max(-a, 0.0);
    const double log_1p = -std::log1p(std::exp(-std::fabs(a))) - std::max(a, 0.0);
    const double log_r = -std::log1p(std::exp(-std::fabs(b))) - std::max(-b, 0.0);
    const double log_1r = -std::log1p(std::exp(-std::fabs(b))) - std::max(b, 0.0);
    total += weight * (p * (log_p - log_r) + (1.0 - p) * (log_1p - log_1r));
    const double r = 1.0 / (1.0 + std::exp(-b));
    dstudent[i] = static_cast<float>(weight * (r - p) * inv_tau);
  }
  return total;
}

}  // namespace moerec
