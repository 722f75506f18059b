// SapLayer: DSMOE's scenario-adaptive projection (MODELS.md "DSMOE"). For row i with scenario
// embedding e_i:
//   s_i = e_i W_gen + b_gen                 (R) the generated scenario scale b_s
//   y_i = x_i W + b + ((x_i B) ⊙ s_i) A
// The scenario-specific part is rank R: B (I, R) and A (R, O) are shared by all scenarios, and
// only the tiny generator reads the scenario.
//
// The scenario embedding is an input view the caller gives (its gradient is returned), so the
// caller decides where it comes from: a per-scenario table broadcast over the scenario's rows
// (BroadcastRows, its backward BiasBackward), or any per-row scenario features. The layer does
// not read domain ids.
//
// Dimension legend: B rows, I input width, O output width, De embedding width, R rank.
//   x, dx: (B, I)   e, de: (B, De)   y, dy: (B, O)
// Parameters (stored as the x W layout, i.e. the transposes of MODELS.md's A and B):
//   "<name>.w" (I, O), "<name>.b" (O)             U(-1/sqrt(I), 1/sqrt(I)), as a Linear
//   "<name>.bproj" (I, R)                         U(-1/sqrt(I), 1/sqrt(I)), as a Linear
//   "<name>.a" (R, O)                             0, so that a fresh layer is x W + b
//   "<name>.gen.w" (De, R), "<name>.gen.b" (R)    U(-1/sqrt(De), 1/sqrt(De)), as a Linear
// Initialisation by name (experts/layers/init.h). With A at 0 the first step moves A only
// (u = (x B) ⊙ s is nonzero); B and the generator get gradients once A is nonzero.
//
// Gradient rule: parameter gradients accumulate (+=); dx and de are written (=), or added to
// with dx_beta / de_beta = 1; either is skipped when its data is null.
// Memory: activations live in a SapCache owned by the caller (one per application).
// Thread-safety: none; the GEMMs use the compute thread pool.
#ifndef MOEREC_EXPERTS_LAYERS_SAP_H_
#define MOEREC_EXPERTS_LAYERS_SAP_H_

#include <cstdint>
#include <string>

#include "core/parameter.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

struct SapCache {
  Tensor t;   // (B, R) x B
  Tensor s;   // (B, R) e W_gen + b_gen
  Tensor u;   // (B, R) t ⊙ s
  Tensor y;   // (B, O)
  Tensor du;  // (B, R) backward scratch: gradient of u, t, s
  Tensor dt;  // (B, R)
  Tensor ds;  // (B, R)
};

class SapLayer {
 public:
  SapLayer() = default;
  // input_dim, output_dim, scenario_dim >= 1; config.rank() >= 1.
  SapLayer(const SapConfig& config, int64_t input_dim, int64_t output_dim, int64_t scenario_dim,
           const std::string& name, ParameterSet* params, uint64_t seed);

  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  int64_t scenario_dim() const { return scenario_dim_; }
  int64_t rank() const { return rank_; }

  // x: (B, I), e: (B, De). Returns y (B, O), a view into `cache`.
  ConstMatView Forward(ConstMatView x, ConstMatView e, SapCache* cache) const;
  // x, e: Forward's inputs. dy: (B, O).
  void Backward(ConstMatView x, ConstMatView e, ConstMatView dy, MatView dx, float dx_beta,
                MatView de, float de_beta, SapCache* cache) const;

 private:
  int64_t input_dim_ = 0;
  int64_t output_dim_ = 0;
  int64_t scenario_dim_ = 0;
  int64_t rank_ = 0;
  Parameter* w_ = nullptr;
  Parameter* b_ = nullptr;
  Parameter* bproj_ = nullptr;
  Parameter* a_ = nullptr;
  Parameter* gen_w_ = nullptr;
  Parameter* gen_b_ = nullptr;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_SAP_H_
