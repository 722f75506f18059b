// Dense optimizers: one update of a model's dense parameters from their gradients, the rules
// being exactly PyTorch's (float32 state, same formulas, per-parameter step counts):
//   kAdam     torch.optim.Adam (amsgrad off): g += wd * p; m = b1 m + (1 - b1) g;
//             v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   kAdamW    torch.optim.AdamW: p *= 1 - lr * wd, then the Adam update without the L2 term
//   kSgd      torch.optim.SGD (dampening 0, no Nesterov): g += wd * p; with momentum mu,
//             buf = g at a parameter's first step, else buf = mu buf + g, and g = buf; p -= lr g
//   kAdagrad  torch.optim.Adagrad (lr_decay 0): g += wd * p; sum += g^2 (sum starts at
//             initial_accumulator); p -= lr g / (sqrt(sum) + eps)
// t is the parameter's own step count: a parameter that was frozen (or excluded) in earlier
// steps starts at t = 1 when it is first updated, as a PyTorch parameter without a gradient.
//
// A DenseOptimizer works over a ParameterSet it does not own (which must outlive it). Step()
// updates every trainable entry (not a buffer, not frozen, accepted by the optional filter)
// from its current gradient; it does not zero gradients. State tensors are allocated the first
// time a parameter is updated. Parameters added to the set after Create() are picked up.
// Updates are elementwise, parallel over all selected elements at once (one parallel region a
// step), and bit-identical for any thread count.
// Devices: a parameter whose value and gradient are on a GPU (core/tensor.h) is updated there by
// one kernel on its compute stream (core/gpu/optimizer.cu: the same formulas, equal to these
// within float rounding), and its state tensors live on that device; host parameters take the
// CPU path above. State follows its parameter: a parameter moved to another device after its
// state was made gets its state copied there at the next step.
// SaveState/LoadState carry the optimizer's state (step counts and moment tensors, by
// parameter name) for checkpoints; the options (learning rate etc.) come from the config.
// Device state is copied through the host both ways (LoadState puts it on the parameter's
// device).
// Thread-safety: none.
#ifndef MOEREC_CORE_OPTIMIZER_H_
#define MOEREC_CORE_OPTIMIZER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/parameter.h"
#include "core/status.h"
#include "core/tensor.h"

namespace moerec {

enum class DenseOptimizerType { kAdam = 0, kAdamW = 1, kSgd = 2, kAdagrad = 3 };

const char* DenseOptimizerTypeName(DenseOptimizerType type);

struct DenseOptimizerOptions {
  DenseOptimizerType type = DenseOptimizerType::kAdam;
  float learning_rate = 1e-3f;  // > 0 and finite
  float beta1 = 0.9f;           // Adam, AdamW; in [0, 1)
  float beta2 = 0.999f;         // Adam, AdamW; in [0, 1)
  float epsilon = 1e-8f;        // Adam, AdamW, Adagrad; >= 0 (PyTorch's Adagrad default is 1e-10)
  float weight_decay = 0.0f;    // >= 0; L2 on the gradient, decoupled for AdamW
  float momentum = 0.0f;        // SGD; >= 0
  float initial_accumulator = 0.0f;  // Adagrad; >= 0

  // InvalidArgument naming the first field out of its range.
  Status Validate() const;
};

class DenseOptimizer {
 public:
  // Selects which parameters this optimizer updates (all trainable ones when null), e.g. to
  // give a model's architecture weights an optimizer of their own.
  using Filter = std::function<bool(const Parameter&)>;

  static StatusOr<std::unique_ptr<DenseOptimizer>> Create(const DenseOptimizerOptions& options,
                                                          ParameterSet* params,
                                                          Filter filter = nullptr);

  // One update of every selected trainable parameter from its gradient.
  void Step();

  void set_learning_rate(float learning_rate);
  float learning_rate() const { return options_.learning_rate; }
  const DenseOptimizerOptions& options() const { return options_; }
  // Number of Step() calls (restored by LoadState).
  int64_t step_count() const { return step_count_; }

  // Byte format (little-endian): "MRDOPT01", u8 type, i64 step_count, u32 count, per
  // parameter with state {u32 name length, name, i64 step, u8 tensor count, per tensor
  // {i64 size, f32 values[size]}}, u32 CRC-32 of the preceding bytes.
  // `keep` (all when null) limits the state saved to a subset of the parameters.
  Status SaveState(std::string* bytes, const Filter& keep = nullptr) const;
  // Restores SaveState's output. All or nothing; Corruption for damaged bytes, InvalidArgument
  // for another optimizer type, an unknown or non-trainable parameter name, or a state size
  // that does not match its parameter. Parameters absent from the bytes start fresh.
  // merge: one of several states that together cover the parameters (the expert-local ones,
  // saved by their owners): entries for parameters not updated here are skipped, and the state
  // of parameters absent from the bytes is kept as it is.
  Status LoadState(std::string_view bytes, bool merge = false);

 private:
  struct ParamState {
    int64_t step = 0;  // updates applied to this parameter
    Tensor m;          // Adam/AdamW first moment; SGD momentum buffer; Adagrad sum
    Tensor v;          // Adam/AdamW second moment
  };
  // One parameter's slice of a step: its elements [offset, offset + size) of the step's
  // flattened index space, with the per-step scalars of its update.
  struct Segment {
    int64_t offset = 0;
    int64_t size = 0;
    Parameter* param = nullptr;
    ParamState* state = nullptr;
    float step_size = 0.0f;     // Adam: lr / (1 - b1^t)
    float inv_bc2_sqrt = 0.0f;  // Adam: 1 / sqrt(1 - b2^t)
    bool first = false;         // first update of this parameter
  };

  DenseOptimizer(const DenseOptimizerOptions& options, ParameterSet* params, Filter filter);
  bool Selected(const Parameter& p) const;
  int NumStateTensors() const;
  void UpdateRange(const Segment& s, int64_t begin, int64_t end) const;

  DenseOptimizerOptions options_;
  ParameterSet* params_;
  Filter filter_;
  int64_t step_count_ = 0;
  std::vector<ParamState> state_;  // indexed like params_->params()
  std::vector<Segment> segments_;  // rebuilt each step; kept to avoid allocation
};

}  // namespace moerec

#endif  // MOEREC_CORE_OPTIMIZER_H_
