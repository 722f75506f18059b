#include "data/synthetic/internal/zipf.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>

namespace moerec {
namespace {

// expm1(x) / x and log1p(x) / x, continuous at 0 (where both are 1).
double Expm1OverX(double x) { return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x / 2; }
double Log1pOverX(double x) { return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x / 2; }

// Σ_{k=1..n} k^-s: exact up to 2^20 terms, then the Euler-Maclaurin tail (error far below
// what the generator needs).
double GeneralizedHarmonic(uint64_t n, double s) {
  constexpr uint64_t kExact = 1u << 20;
  double sum = 0;
  for (uint64_t k = std::min(n, kExact); k >= 1; --k) sum += std::pow(static_cast<double>(k), -s);
  if (n <= kExact) return sum;
  const auto integral = [s](double x) {
    return std::abs(s - 1) < 1e-12 ? std::log(x) : std::pow(x, 1 - s) / (1 - s);
  };
  const double a = static_cast<double>(kExact);
  const double b = static_cast<double>(n);
  return sum + integral(b) - integral(a) + 0.5 * (std::pow(b, -s) - std::pow(a, -s));
}

}  // namespace

ZipfSampler::ZipfSampler(uint64_t n, double exponent) : n_(n), s_(exponent) {
  CHECK_GE(n, 1u);
  CHECK_GE(exponent, 0.0);
  h_x1_ = H(1.5) - 1.0;
  h_n_ = H(static_cast<double>(n) + 0.5);
  accept_ = 2.0 - HInverse(H(2.5) - h(2.0));
  norm_ = GeneralizedHarmonic(n, exponent);
}

double ZipfSampler::h(double x) const { return std::exp(-s_ * std::log(x)); }

double ZipfSampler::H(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1.0 - s_) * log_x) * log_x;
}

double ZipfSampler::HInverse(double y) const {
  double t = y * (1.0 - s_);
  if (t < -1.0) t = -1.0;  // rounding guard: the inverse is only defined for t >= -1
  return std::exp(Log1pOverX(t) * y);
}

uint64_t ZipfSampler::Sample(Rng* rng) const {
  while (true) {
    const double u = h_n_ + rng->Uniform() * (h_x1_ - h_n_);
    const double x = HInverse(u);
    double kd = std::floor(x + 0.5);
    kd = std::clamp(kd, 1.0, static_cast<double>(n_));
    const uint64_t k = static_cast<uint64_t>(kd);
    if (kd - x <= accept_ || u >= H(kd + 0.5) - h(kd)) return k;
  }
}

double ZipfSampler::Pmf(uint64_t k) const {
  if (k < 1 || k > n_) return 0.0;
  return h(static_cast<double>(k)) / norm_;
}

}  // namespace moerec
