// ZipfSampler: ranks k in [1, n] with P(k) ∝ k^-s, s >= 0, drawn in O(1) expected time with no
// table (rejection-inversion, W. Hörmann and G. Derflinger, "Rejection-inversion to generate
// variates from monotone discrete distributions", 1996), so vocabularies of 10^9 ids cost
// nothing to set up. Deterministic given the Rng. Thread-safe (const after construction).
#ifndef MOEREC_DATA_SYNTHETIC_INTERNAL_ZIPF_H_
#define MOEREC_DATA_SYNTHETIC_INTERNAL_ZIPF_H_

#include <cstdint>

#include "core/random.h"

namespace moerec {

class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double exponent);  // n >= 1, exponent >= 0

  uint64_t Sample(Rng* rng) const;  // in [1, n]
  double Pmf(uint64_t k) const;     // P(k); 0 outside [1, n]
  uint64_t n() const { return n_; }

 private:
  double H(double x) const;  // ∫ x^-s dx, shifted so that H(1) = 0
  double HInverse(double y) const;
  double h(double x) const;  // x^-s

  uint64_t n_;
  double s_;
  double h_x1_;    // H(1.5) - 1
  double h_n_;     // H(n + 0.5)
  double accept_;  // the squeeze constant
  double norm_;    // Σ_k k^-s
};

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_INTERNAL_ZIPF_H_
