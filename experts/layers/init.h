// Deterministic parameter initialisation for the layers of experts/.
//
// A parameter's initial values are a pure function of (model seed, parameter name): each
// parameter draws from its own Rng seeded by ParamSeed(seed, name), so adding or reordering
// parameters never changes the values of the others, and the same seed gives the same model
// on every platform and thread count.
//
// The scheme is PyTorch's default for nn.Linear, so that moerec and a PyTorch script of the
// same model start from the same distribution: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// fan_in = the width of the layer's input (per expert for fused expert banks). Layer-norm
// scales start at 1 and shifts at 0, PReLU slopes at 0.25 (both as PyTorch).
// Thread-safety: pure functions.
#ifndef MOEREC_EXPERTS_LAYERS_INIT_H_
#define MOEREC_EXPERTS_LAYERS_INIT_H_

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace moerec {

// FNV-1a of the name mixed with the seed.
uint64_t ParamSeed(uint64_t seed, const std::string& name);

// Fills every element of `t` with U(-bound, bound) drawn from Rng(stream_seed).
void FillUniform(uint64_t stream_seed, float bound, Tensor* t);

// Fills every element of `t` with N(0, stddev^2) drawn from Rng(stream_seed).
void FillNormal(uint64_t stream_seed, float stddev, Tensor* t);

// The PyTorch nn.Linear bound for an input of width fan_in: 1 / sqrt(fan_in).
float LinearInitBound(int64_t fan_in);

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_INIT_H_
