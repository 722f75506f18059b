// Dense parameters: a named value tensor with its gradient. A ParameterSet owns the
// parameters of one model; layers keep raw pointers into it (stable: parameters are never
// removed). Snapshot/Restore copy values, for best-state restore on early stopping.
// Thread-safety: none.
#ifndef MOEREC_CORE_PARAMETER_H_
#define MOEREC_CORE_PARAMETER_H_

#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace moerec {

struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;  // same shape as value; accumulated by backward passes
  // Excluded from optimizer steps while true (phase-wise training freezes parts of a model).
  bool frozen = false;
};

class ParameterSet {
 public:
  // Adds a zero-initialised parameter. Names must be unique.
  Parameter* Add(const std::string& name, const std::vector<int64_t>& shape);
  // Glorot-uniform (fan_in = shape[0], fan_out = shape[1]).
  Parameter* AddGlorot(const std::string& name, int64_t fan_in, int64_t fan_out, Rng* rng);
  Parameter* AddConstant(const std::string& name, const std::vector<int64_t>& shape, float value);

  void ZeroGrad();
  int64_t NumValues() const;
  const std::vector<std::unique_ptr<Parameter>>& params() const { return params_; }
  Parameter* Find(const std::string& name) const;

  std::vector<Tensor> Snapshot() const;
  void Restore(const std::vector<Tensor>& snapshot);

 private:
  std::vector<std::unique_ptr<Parameter>> params_;
};

}  // namespace moerec

#endif  // MOEREC_CORE_PARAMETER_H_
