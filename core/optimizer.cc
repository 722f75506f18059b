#include "core/optimizer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "core/checksum.h"
#include "core/internal/byte_io.h"
#include "core/internal/dense_update.h"
#include "core/internal/gpu_dispatch.h"
#include "core/parallel.h"

namespace moerec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the optimizer state format is written in host order; add byte swapping");

constexpr char kMagic[8] = {'M', 'R', 'D', 'O', 'P', 'T', '0', '1'};
// Elements per parallel chunk: an update streams 16-28 bytes per element.
constexpr int64_t kGrain = 32768;

using internal::ByteReader;
using internal::PutBytes;

bool Finite(float x) { return std::isfinite(x); }

}  // namespace

const char* DenseOptimizerTypeName(DenseOptimizerType type) {
  switch (type) {
    case DenseOptimizerType::kAdam:
      return "ADAM";
    case DenseOptimizerType::kAdamW:
      return "ADAMW";
    case DenseOptimizerType::kSgd:
      return "SGD";
    case DenseOptimizerType::kAdagrad:
      return "ADAGRAD";
  }
  return "UNKNOWN";
}

Status DenseOptimizerOptions::Validate() const {
  const int t = static_cast<int>(type);
  if (t < 0 || t > 3) {
    return InvalidArgument("optimizer type " + std::to_string(t) +
                           " is not one of ADAM, ADAMW, SGD, ADAGRAD");
  }
  auto bad = [](const char* field, float v, const char* allowed) {
    return InvalidArgument(std::string("optimizer ") + field + " = " + std::to_string(v) +
                           " must be " + allowed);
  };
  if (!Finite(learning_rate) || learning_rate <= 0.0f) {
    return bad("learning_rate", learning_rate, "> 0");
  }
  if (!(beta1 >= 0.0f && beta1 < 1.0f)) return bad("beta1", beta1, "in [0, 1)");
  if (!(beta2 >= 0.0f && beta2 < 1.0f)) return bad("beta2", beta2, "in [0, 1)");
  if (!Finite(epsilon) || epsilon < 0.0f) return bad("epsilon", epsilon, ">= 0");
  if (!Finite(weight_decay) || weight_decay < 0.0f) {
    return bad("weight_decay", weight_decay, ">= 0");
  }
  if (!Finite(momentum) || momentum < 0.0f) return bad("momentum", momentum, ">= 0");
  if (!Finite(initial_accumulator) || initial_accumulator < 0.0f) {
    return bad("initial_accumulator", initial_accumulator, ">= 0");
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<DenseOptimizer>> DenseOptimizer::Create(
    const DenseOptimizerOptions& options, ParameterSet* params, Filter filter) {
  CHECK(params != nullptr);
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<DenseOptimizer>(new DenseOptimizer(options, params, std::move(filter)));
}

DenseOptimizer::DenseOptimizer(const DenseOptimizerOptions& options, ParameterSet* params,
                               Filter filter)
    : options_(options), params_(params), filter_(std::move(filter)) {}

void DenseOptimizer::set_learning_rate(float learning_rate) {
  CHECK(Finite(learning_rate) && learning_rate > 0.0f) << "learning rate " << learning_rate;
  options_.learning_rate = learning_rate;
}

bool DenseOptimizer::Selected(const Parameter& p) const {
  return !p.is_buffer && (!filter_ || filter_(p));
}

int DenseOptimizer::NumStateTensors() const {
  switch (options_.type) {
    case DenseOptimizerType::kAdam:
    case DenseOptimizerType::kAdamW:
      return 2;
    case DenseOptimizerType::kSgd:
      return options_.momentum != 0.0f ? 1 : 0;
    case DenseOptimizerType::kAdagrad:
      return 1;
  }
  return 0;
}

void DenseOptimizer::Step() {
  const auto& params = params_->params();
  if (state_.size() < params.size()) state_.resize(params.size());
  const bool adam =
      options_.type == DenseOptimizerType::kAdam || options_.type == DenseOptimizerType::kAdamW;
  segments_.clear();
  int64_t total = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter* p = params[i].get();
    if (!p->trainable() || !Selected(*p)) continue;
    CHECK_EQ(p->grad.size(), p->value.size()) << "gradient of " << p->name << " has a bad shape";
    // The update runs where the parameter lives, and its state lives there too.
    GpuResources* const device = p->value.gpu();
    CHECK(p->grad.gpu() == device)
        << "value and gradient of " << p->name << " are on different devices";
    ParamState& st = state_[i];
    const int64_t n = p->value.size();
    if (st.step == 0) {
      for (int k = 0; k < NumStateTensors(); ++k) {
        Tensor& t = k == 0 ? st.m : st.v;
        if (t.gpu() != device) {
          t = Tensor({n}, device);
        } else {
          t.Resize({n});
        }
      }
      if (adam) {
        st.m.Zero();
        st.v.Zero();
      } else if (options_.type == DenseOptimizerType::kAdagrad) {
        st.m.Fill(options_.initial_accumulator);
      }
    } else {
      // State restored by LoadState, or made before the parameter moved: follow the parameter.
      for (int k = 0; k < NumStateTensors(); ++k) {
        Tensor& t = k == 0 ? st.m : st.v;
        if (t.gpu() != device) t = t.To(device);
      }
    }
    Segment s;
    s.offset = total;
    s.size = n;
    s.param = p;
    s.state = &st;
    s.first = st.step == 0;
    ++st.step;
    if (adam) {
      // As torch: bias corrections in double, step_size = lr / bc1.
      const double t = static_cast<double>(st.step);
      const double bc1 = 1.0 - std::pow(static_cast<double>(options_.beta1), t);
      const double bc2 = 1.0 - std::pow(static_cast<double>(options_.beta2), t);
      s.step_size = static_cast<float>(options_.learning_rate / bc1);
      s.inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
    }
    if (device != nullptr) {
#if MOEREC_HAVE_CUDA
      gpu::DenseOptimizerUpdate(options_, s.step_size, s.inv_bc2_sqrt, s.first, n, p->value.data(),
                                p->grad.data(), st.m.data(), st.v.data(), device);
#else
      LOG(FATAL) << "a device parameter in a build without CUDA";
#endif
      continue;
    }
    segments_.push_back(s);
    total += n;
  }
  ParallelFor(total, kGrain, [&](int64_t begin, int64_t end) {
    // The segment holding `begin`, then its successors until `end`.
    auto it = std::upper_bound(segments_.begin(), segments_.end(), begin,
                               [](int64_t v, const Segment& s) { return v < s.offset; });
    for (--it; begin < end; ++it) {
      const int64_t seg_end = std::min(end, it->offset + it->size);
      if (seg_end > begin) UpdateRange(*it, begin - it->offset, seg_end - it->offset);
      begin = std::max(begin, seg_end);
    }
  });
  ++step_count_;
}

void DenseOptimizer::UpdateRange(const Segment& s, int64_t begin, int64_t end) const {
  float* __restrict p = s.param->value.data();
  const float* __restrict g = s.param->grad.data();
  float* __restrict m = s.state->m.data();
  float* __restrict v = s.state->v.data();
  const internal::DenseUpdateScalars u =
      internal::MakeDenseUpdateScalars(options_, s.step_size, s.inv_bc2_sqrt, s.first);
  // One loop per rule, so that each vectorises (the rules are core/internal/dense_update.h's).
  switch (options_.type) {
    case DenseOptimizerType::kAdam:
    case DenseOptimizerType::kAdamW:
      for (int64_t i = begin; i < end; ++i) internal::AdamElement(u, i, p, g, m, v);
      break;
    case DenseOptimizerType::kSgd:
      for (int64_t i = begin; i < end; ++i) internal::SgdElement(u, i, p, g, m);
      break;
    case DenseOptimizerType::kAdagrad:
      for (int64_t i = begin; i < end; ++i) internal::AdagradElement(u, i, p, g, m);
      break;
  }
}

Status DenseOptimizer::SaveState(std::string* bytes, const Filter& keep) const {
  bytes->clear();
  const auto& params = params_->params();
  bytes->append(kMagic, sizeof(kMagic));
  PutBytes(bytes, static_cast<uint8_t>(options_.type));
  PutBytes(bytes, step_count_);
  uint32_t count = 0;
  auto saved = [&](size_t i) {
    return state_[i].step > 0 && (keep == nullptr || keep(*params[i]));
  };
  for (size_t i = 0; i < state_.size(); ++i) count += saved(i) ? 1 : 0;
  PutBytes(bytes, count);
  const int tensors = NumStateTensors();
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& st = state_[i];
    if (!saved(i)) continue;
    const std::string& name = params[i]->name;
    PutBytes(bytes, static_cast<uint32_t>(name.size()));
    bytes->append(name);
    PutBytes(bytes, st.step);
    PutBytes(bytes, static_cast<uint8_t>(tensors));
    for (int k = 0; k < tensors; ++k) {
      const Tensor& state = k == 0 ? st.m : st.v;
      Tensor staged;  // device state is written through a host copy
      if (state.on_gpu()) staged = state.To(nullptr);
      const Tensor& t = state.on_gpu() ? staged : state;
      PutBytes(bytes, t.size());
      bytes->append(reinterpret_cast<const char*>(t.data()), 4 * t.size());
    }
  }
  PutBytes(bytes, Crc32(*bytes));
  return Status::OK();
}

Status DenseOptimizer::LoadState(std::string_view bytes, bool merge) {
  struct Entry {
    std::string_view name;
    int64_t step = 0;
    int tensors = 0;
    std::string_view data[2];
  };
  ByteReader in(bytes);
  std::string_view magic;
  if (!in.Take(sizeof(kMagic), &magic) || magic != std::string_view(kMagic, sizeof(kMagic))) {
    return Corruption("optimizer state does not start with the magic \"MRDOPT01\"");
  }
  uint8_t type = 0;
  int64_t step_count = 0;
  uint32_t count = 0;
  if (!in.Get(&type) || !in.Get(&step_count) || !in.Get(&count)) {
    return Corruption("optimizer state truncated in the header");
  }
  if (step_count < 0) return Corruption("negative optimizer step count");
  std::vector<Entry> entries;
  entries.reserve(std::min<uint32_t>(count, 1 << 16));
  for (uint32_t i = 0; i < count; ++i) {
    Entry e;
    uint32_t name_len = 0;
    if (!in.Get(&name_len) || !in.Take(name_len, &e.name)) {
      return Corruption("optimizer state truncated in the name of entry " + std::to_string(i));
    }
    const std::string name(e.name);
    uint8_t ntensors = 0;
    if (!in.Get(&e.step) || !in.Get(&ntensors)) {
      return Corruption("optimizer state truncated in the header of '" + name + "'");
    }
    if (e.step <= 0) return Corruption("optimizer state of '" + name + "' has step <= 0");
    if (ntensors > 2) return Corruption("optimizer state of '" + name + "' has too many tensors");
    e.tensors = ntensors;
    for (int k = 0; k < ntensors; ++k) {
      int64_t size = 0;
      if (!in.Get(&size) || size < 0 || size > (int64_t{1} << 40) ||
          !in.Take(static_cast<size_t>(size) * 4, &e.data[k])) {
        return Corruption("optimizer state truncated in the values of '" + name + "'");
      }
    }
    entries.push_back(e);
  }
  const size_t body = in.pos();
  uint32_t crc = 0;
  if (!in.Get(&crc)) return Corruption("optimizer state truncated before the checksum");
  if (in.pos() != bytes.size()) return Corruption("unexpected bytes after the optimizer state");
  if (crc != Crc32(bytes.substr(0, body))) {
    return Corruption("optimizer state fails its CRC-32 check");
  }
  if (type != static_cast<uint8_t>(options_.type)) {
    return InvalidArgument(std::string("optimizer state was saved by ") +
                           DenseOptimizerTypeName(static_cast<DenseOptimizerType>(type)) +
                           ", this optimizer is " + DenseOptimizerTypeName(options_.type));
  }
  // Validate every entry against the parameter set before changing anything.
  const int tensors = NumStateTensors();
  const auto& params = params_->params();
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < params.size(); ++i) index.emplace(params[i]->name, i);
  constexpr size_t kSkip = static_cast<size_t>(-1);
  std::vector<size_t> target(entries.size(), kSkip);
  std::vector<bool> seen(params.size(), false);
  for (size_t k = 0; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    const std::string name(e.name);
    auto it = index.find(e.name);
    if (merge && (it == index.end() || !Selected(*params[it->second]))) continue;
    if (it == index.end()) {
      return InvalidArgument("optimizer state for unknown parameter '" + name + "'");
    }
    const Parameter& p = *params[it->second];
    if (!Selected(p)) {
      return InvalidArgument("optimizer state for '" + name +
                             "', which this optimizer does not update");
    }
    if (seen[it->second]) return InvalidArgument("optimizer state for '" + name + "' twice");
    if (e.tensors != tensors) {
      return InvalidArgument("optimizer state of '" + name + "' has " + std::to_string(e.tensors) +
                             " tensors; " + DenseOptimizerTypeName(options_.type) +
                             " with these options keeps " + std::to_string(tensors));
    }
    seen[it->second] = true;
    for (int t = 0; t < tensors; ++t) {
      if (static_cast<int64_t>(e.data[t].size()) != 4 * p.value.size()) {
        return InvalidArgument("optimizer state of '" + name + "' has " +
                               std::to_string(e.data[t].size() / 4) +
                               " values; the parameter has " + std::to_string(p.value.size()));
      }
    }
    target[k] = it->second;
  }
  if (!merge) state_.assign(params.size(), ParamState());
  state_.resize(params.size());
  for (size_t k = 0; k < entries.size(); ++k) {
    if (target[k] == kSkip) continue;
    ParamState& st = state_[target[k]];
    st.step = entries[k].step;
    for (int t = 0; t < tensors; ++t) {
      Tensor& dst = t == 0 ? st.m : st.v;
      const int64_t n = static_cast<int64_t>(entries[k].data[t].size() / 4);
      // Through the host onto the parameter's device.
      Tensor host({n}, nullptr);
      if (n > 0) std::memcpy(host.data(), entries[k].data[t].data(), 4 * n);
      GpuResources* const device = params[target[k]]->value.gpu();
      dst = device != nullptr ? host.To(device) : std::move(host);
    }
  }
  step_count_ = step_count;
  return Status::OK();
}

}  // namespace moerec
