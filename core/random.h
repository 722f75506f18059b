// Deterministic random numbers. Every value here is specified bit for bit (unlike <random>'s
// distributions), so a seed gives the same data, initialisation and delivery order on every
// platform, thread count and rank layout.
//   Mix64 / HashCombine: mixing hashes, for values that must be a pure function of their inputs
//     (row initialisation, id sharding, dropout masks).
//   Rng: xoshiro256** seeded through splitmix64; small and fast.
// Thread-safety: functions are pure; an Rng belongs to one thread.
#ifndef MOEREC_CORE_RANDOM_H_
#define MOEREC_CORE_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/internal/host_device.h"

namespace moerec {

// splitmix64's finaliser: bijective; every input bit affects every output bit. Mix64 and
// HashCombine are callable from CUDA kernel bodies too (dropout masks on the device).
MOEREC_HOST_DEVICE inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Hash of an ordered pair.
MOEREC_HOST_DEVICE inline uint64_t HashCombine(uint64_t a, uint64_t b) {
  return Mix64(a ^ Mix64(b));
}

// A uniform double in [0, 1) from the top 53 bits of `bits`.
inline double ToUnitDouble(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// A standard normal from one 64-bit hash (Box-Muller on its two 32-bit halves; tails to about
// 6.6 sigma).
inline double HashToNormal(uint64_t h) {
  const double u1 = (static_cast<double>(h >> 32) + 0.5) * 0x1.0p-32;
  const double u2 = static_cast<double>(h & 0xffffffffu) * 0x1.0p-32;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      s = Mix64(seed);
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double Uniform() { return ToUnitDouble(Next()); }
  float UniformFloat() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }
  // Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift; bias below n / 2^64).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  double Normal() { return HashToNormal(Next()); }
  bool Bernoulli(double p) { return Uniform() < p; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4] = {};
};

// Fisher-Yates with Rng::Below.
template <typename T>
void Shuffle(std::vector<T>* v, Rng* rng) {
  for (size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[rng->Below(i)]);
}

}  // namespace moerec

#endif  // MOEREC_CORE_RANDOM_H_
