#include "core/parameter.h"

#include <cmath>

namespace moerec {

Parameter* ParameterSet::Add(const std::string& name, const std::vector<int64_t>& shape) {
  CHECK(Find(name) == nullptr) << "duplicate parameter name " << name;
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->value.Resize(shape);
  p->value.Zero();
  p->grad.Resize(shape);
  p->grad.Zero();
  params_.push_back(std::move(p));
  return params_.back().get();
}

Parameter* ParameterSet::AddGlorot(const std::string& name, int64_t fan_in, int64_t fan_out,
                                   Rng* rng) {
  Parameter* p = Add(name, {fan_in, fan_out});
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = (2.0f * rng->UniformFloat() - 1.0f) * limit;
  return p;
}

Parameter* ParameterSet::AddConstant(const std::string& name, const std::vector<int64_t>& shape,
                                     float value) {
  Parameter* p = Add(name, shape);
  p->value.Fill(value);
  return p;
}

void ParameterSet::ZeroGrad() {
  for (auto& p : params_) p->grad.Zero();
}

int64_t ParameterSet::NumValues() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->value.size();
  return n;
}

Parameter* ParameterSet::Find(const std::string& name) const {
  for (const auto& p : params_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

std::vector<Tensor> ParameterSet::Snapshot() const {
  std::vector<Tensor> out;
  out.reserve(params_.size());
  for (const auto& p : params_) out.push_back(p->value);
  return out;
}

void ParameterSet::Restore(const std::vector<Tensor>& snapshot) {
  CHECK_EQ(snapshot.size(), params_.size());
  for (size_t i = 0; i < params_.size(); ++i) params_[i]->value = snapshot[i];
}

}  // namespace moerec
