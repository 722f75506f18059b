#include "core/parameter.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "core/checksum.h"
#include "core/internal/byte_io.h"

namespace moerec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the parameter byte format is written in host order; add byte swapping");

constexpr char kMagic[8] = {'M', 'R', 'P', 'S', 'E', 'T', '0', '1'};

using internal::ByteReader;
using internal::PutBytes;

struct Entry {
  std::string_view name;
  bool is_buffer = false;
  std::vector<int64_t> shape;
  std::string_view data;  // size * 4 bytes
};

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

const char* KindName(bool is_buffer) { return is_buffer ? "buffer" : "parameter"; }

}  // namespace

void ParameterSet::Adopt(ParameterSet* other, const std::string& prefix) {
  for (auto& p : other->params_) {
    p->name = prefix + p->name;
    CHECK(Find(p->name) == nullptr) << "duplicate parameter name " << p->name;
    params_.push_back(std::move(p));
  }
  other->params_.clear();
}

Parameter* ParameterSet::AddEntry(const std::string& name, const std::vector<int64_t>& shape,
                                  bool is_buffer) {
  CHECK(Find(name) == nullptr) << "duplicate parameter name " << name;
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->is_buffer = is_buffer;
  p->value.Resize(shape);
  p->value.Zero();
  if (!is_buffer) {
    p->grad.Resize(shape);
    p->grad.Zero();
  }
  params_.push_back(std::move(p));
  return params_.back().get();
}

Parameter* ParameterSet::Add(const std::string& name, const std::vector<int64_t>& shape) {
  return AddEntry(name, shape, /*is_buffer=*/false);
}

Parameter* ParameterSet::AddGlorot(const std::string& name, int64_t fan_in, int64_t fan_out,
                                   Rng* rng) {
  Parameter* p = Add(name, {fan_in, fan_out});
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  Tensor init(p->value.shape(), nullptr);  // drawn on the host, then copied where p lives
  for (int64_t i = 0; i < init.size(); ++i) {
    init[i] = (2.0f * rng->UniformFloat() - 1.0f) * limit;
  }
  p->value = init;
  return p;
}

Parameter* ParameterSet::AddConstant(const std::string& name, const std::vector<int64_t>& shape,
                                     float value) {
  Parameter* p = Add(name, shape);
  p->value.Fill(value);
  return p;
}

Parameter* ParameterSet::AddBuffer(const std::string& name, const std::vector<int64_t>& shape,
                                   float value) {
  Parameter* p = AddEntry(name, shape, /*is_buffer=*/true);
  p->value.Fill(value);
  return p;
}

void ParameterSet::ZeroGrad() {
  for (auto& p : params_) {
    if (!p->is_buffer) p->grad.Zero();
  }
}

int64_t ParameterSet::NumValues() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->is_buffer ? 0 : p->value.size();
  return n;
}

int64_t ParameterSet::NumBufferValues() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->is_buffer ? p->value.size() : 0;
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
  CHECK_EQ(snapshot.size(), params_.size()) << "snapshot of a different parameter set";
  for (size_t i = 0; i < params_.size(); ++i) {
    CHECK(snapshot[i].shape() == params_[i]->value.shape())
        << "snapshot shape " << snapshot[i].ShapeString() << " differs from " << params_[i]->name
        << " " << params_[i]->value.ShapeString();
    params_[i]->value = snapshot[i];
  }
}

Status ParameterSet::SaveTo(std::string* bytes, const Filter& keep) const {
  bytes->clear();
  size_t total = sizeof(kMagic) + 8;
  uint32_t count = 0;
  for (const auto& p : params_) {
    if (keep != nullptr && !keep(*p)) continue;
    ++count;
    if (p->name.size() > std::numeric_limits<uint32_t>::max()) {
      return InvalidArgument("parameter name of " + std::to_string(p->name.size()) +
                             " bytes is too long to save");
    }
    total += 4 + p->name.size() + 2 + 8 * p->value.shape().size() + 4 * p->value.size();
  }
  bytes->reserve(total);
  bytes->append(kMagic, sizeof(kMagic));
  PutBytes(bytes, count);
  for (const auto& p : params_) {
    if (keep != nullptr && !keep(*p)) continue;
    PutBytes(bytes, static_cast<uint32_t>(p->name.size()));
    bytes->append(p->name);
    PutBytes(bytes, static_cast<uint8_t>(p->is_buffer ? 1 : 0));
    PutBytes(bytes, static_cast<uint8_t>(p->value.ndim()));
    for (int64_t d : p->value.shape()) PutBytes(bytes, d);
    if (p->value.on_gpu()) {
      const Tensor host = p->value.To(nullptr);
      bytes->append(reinterpret_cast<const char*>(host.data()), 4 * host.size());
    } else {
      bytes->append(reinterpret_cast<const char*>(p->value.data()), 4 * p->value.size());
    }
  }
  PutBytes(bytes, Crc32(*bytes));
  return Status::OK();
}

Status ParameterSet::LoadFrom(std::string_view bytes, const Filter& keep,
                              std::vector<std::string>* found, std::string_view prefix) {
  ByteReader in(bytes);
  std::string_view magic;
  if (!in.Take(sizeof(kMagic), &magic) || magic != std::string_view(kMagic, sizeof(kMagic))) {
    return Corruption("parameter bytes do not start with the magic \"MRPSET01\"");
  }
  uint32_t count = 0;
  if (!in.Get(&count)) return Corruption("parameter bytes truncated in the header");
  std::vector<Entry> entries;
  entries.reserve(std::min<uint32_t>(count, 1 << 16));
  for (uint32_t i = 0; i < count; ++i) {
    const std::string where = "entry " + std::to_string(i) + " at byte " + std::to_string(in.pos());
    Entry e;
    uint32_t name_len = 0;
    if (!in.Get(&name_len) || !in.Take(name_len, &e.name)) {
      return Corruption("parameter bytes truncated in the name of " + where);
    }
    const std::string name(e.name);
    uint8_t kind = 0, rank = 0;
    if (!in.Get(&kind) || !in.Get(&rank)) {
      return Corruption("parameter bytes truncated in the header of '" + name + "'");
    }
    if (kind > 1) return Corruption("bad kind " + std::to_string(kind) + " for '" + name + "'");
    if (rank < 1 || rank > 4) {
      return Corruption("bad rank " + std::to_string(rank) + " for '" + name + "'");
    }
    e.is_buffer = kind == 1;
    int64_t size = 1;
    for (int d = 0; d < rank; ++d) {
      int64_t dim = 0;
      if (!in.Get(&dim))
        return Corruption("parameter bytes truncated in the shape of '" + name + "'");
      if (dim < 0 || (dim > 0 && size > (int64_t{1} << 40) / dim)) {
        return Corruption("bad dimension " + std::to_string(dim) + " for '" + name + "'");
      }
      e.shape.push_back(dim);
      size *= dim;
    }
    if (!in.Take(static_cast<size_t>(size) * 4, &e.data)) {
      return Corruption("parameter bytes truncated in the values of '" + name + "' " +
                        ShapeToString(e.shape));
    }
    entries.push_back(std::move(e));
  }
  const size_t body = in.pos();
  uint32_t crc = 0;
  if (!in.Get(&crc)) return Corruption("parameter bytes truncated before the checksum");
  if (in.pos() != bytes.size()) {
    return Corruption(std::to_string(bytes.size() - in.pos()) +
                      " unexpected bytes after the parameter checksum");
  }
  if (crc != Crc32(bytes.substr(0, body))) {
    return Corruption("parameter bytes fail their CRC-32 check");
  }

  // Match by name, all or nothing.
  std::unordered_map<std::string, const Entry*> by_name;
  for (const Entry& e : entries) {
    if (!by_name.emplace(std::string(prefix) + std::string(e.name), &e).second) {
      return InvalidArgument("parameter '" + std::string(e.name) + "' appears twice");
    }
  }
  const bool partial = found != nullptr;
  auto in_subset = [&](const Parameter& p) { return keep == nullptr || keep(p); };
  size_t matched = 0;
  for (const auto& p : params_) {
    if (!in_subset(*p)) continue;
    auto it = by_name.find(p->name);
    if (it == by_name.end()) {
      if (partial) continue;
      return InvalidArgument(std::string(KindName(p->is_buffer)) + " '" + p->name +
                             "' is missing from the saved bytes");
    }
    ++matched;
    const Entry& e = *it->second;
    if (e.is_buffer != p->is_buffer) {
      return InvalidArgument("'" + p->name + "' was saved as a " + KindName(e.is_buffer) +
                             " but is a " + KindName(p->is_buffer) + " here");
    }
    if (e.shape != p->value.shape()) {
      return InvalidArgument("'" + p->name + "' was saved with shape " + ShapeToString(e.shape) +
                             " but has shape " + p->value.ShapeString() + " here");
    }
  }
  if (!partial && entries.size() != matched) {
    for (const Entry& e : entries) {
      const Parameter* p = Find(std::string(prefix) + std::string(e.name));
      if (p == nullptr || !in_subset(*p)) {
        return InvalidArgument(std::string(KindName(e.is_buffer)) + " '" + std::string(prefix) +
                               std::string(e.name) + "' in the saved bytes does not exist here");
      }
    }
  }
  for (const auto& p : params_) {
    if (!in_subset(*p)) continue;
    auto it = by_name.find(p->name);
    if (it == by_name.end()) continue;
    const Entry& e = *it->second;
    if (!e.data.empty() && p->value.on_gpu()) {
      Tensor host(p->value.shape(), nullptr);
      std::memcpy(host.data(), e.data.data(), e.data.size());
      p->value = host;  // copy assignment keeps p's device
    } else if (!e.data.empty()) {
      std::memcpy(p->value.data(), e.data.data(), e.data.size());
    }
    if (partial) found->push_back(p->name);
  }
  return Status::OK();
}

}  // namespace moerec
