#include "experts/layers/init.h"

#include <cmath>

#include "core/random.h"

namespace moerec {

uint64_t ParamSeed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return HashCombine(seed, h);
}

// Values are drawn on the host and copied to t's device (a GPU worker's parameters), so a
// model starts from the same numbers wherever it runs.
void FillUniform(uint64_t stream_seed, float bound, Tensor* t) {
  Rng rng(stream_seed);
  Tensor host(t->shape(), nullptr);
  for (int64_t i = 0; i < host.size(); ++i) {
    host[i] = (2.0f * rng.UniformFloat() - 1.0f) * bound;
  }
  *t = host;
}

void FillNormal(uint64_t stream_seed, float stddev, Tensor* t) {
  Rng rng(stream_seed);
  Tensor host(t->shape(), nullptr);
  for (int64_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(rng.Normal()) * stddev;
  *t = host;
}

float LinearInitBound(int64_t fan_in) {
  CHECK_GE(fan_in, 1);
  return 1.0f / std::sqrt(static_cast<float>(fan_in));
}

}  // namespace moerec
