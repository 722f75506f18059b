// Dense parameters: a named value tensor with its gradient, plus non-trainable state tensors
// ("buffers", e.g. batch-norm running statistics). A ParameterSet owns the parameters and
// buffers of one model; layers keep raw pointers into it (stable: entries are never removed).
//
// Snapshot/Restore copy the values of every entry (buffers included), for best-state restore
// on early stopping. SaveTo/LoadFrom serialise names, kinds, shapes and values (buffers
// included, gradients and frozen flags not) for dense checkpoints; LoadFrom checks that the
// bytes describe exactly this set (every name present once, same kind and shape, checksum
// intact) before it changes anything, and otherwise returns a Status naming the entry.
// Byte format (little-endian): "MRPSET01", u32 count, per entry {u32 name length, name, u8 kind
// (0 parameter, 1 buffer), u8 rank, i64 dims[rank], f32 values[size]}, then u32 CRC-32 of all
// preceding bytes.
// Thread-safety: none.
#ifndef MOEREC_CORE_PARAMETER_H_
#define MOEREC_CORE_PARAMETER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.h"
#include "core/status.h"
#include "core/tensor.h"

namespace moerec {

struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;  // same shape as value, accumulated by backward passes; empty for buffers
  // Excluded from optimizer steps while true (phase-wise training freezes parts of a model).
  bool frozen = false;
  // A buffer is state, not a parameter: it has no gradient and optimizers never touch it.
  bool is_buffer = false;
  // Held by one worker only (an expert of an expert-parallel layer): its gradient is complete
  // where it lives and is never all-reduced; the owner saves it in checkpoints.
  bool expert_local = false;
  // Never trained by this job (a distillation teacher loaded from another job's checkpoint):
  // no optimizer step in any phase, no gradient all-reduce.
  bool fixed = false;

  // Whether an optimizer step updates this entry now.
  bool trainable() const { return !is_buffer && !frozen && !fixed; }
};

class ParameterSet {
 public:
  // Adds a zero-initialised parameter (value and gradient). Names must be unique across
  // parameters and buffers.
  Parameter* Add(const std::string& name, const std::vector<int64_t>& shape);
  // Glorot-uniform (fan_in = shape[0], fan_out = shape[1]).
  Parameter* AddGlorot(const std::string& name, int64_t fan_in, int64_t fan_out, Rng* rng);
  Parameter* AddConstant(const std::string& name, const std::vector<int64_t>& shape, float value);
  // Adds a buffer filled with `value` (is_buffer = true, no gradient tensor).
  Parameter* AddBuffer(const std::string& name, const std::vector<int64_t>& shape,
                       float value = 0.0f);

  // Moves every entry of `other` into this set, renamed prefix + name (other is left empty).
  // The Parameter objects themselves do not move, so pointers into them stay valid: a model
  // built with its own set (a distillation teacher) becomes part of another's.
  void Adopt(ParameterSet* other, const std::string& prefix);

  // Zeroes the gradients of all parameters (buffers have none).
  void ZeroGrad();
  // Number of parameter values (buffers excluded), and of buffer values.
  int64_t NumValues() const;
  int64_t NumBufferValues() const;
  // Parameters and buffers in the order they were added.
  const std::vector<std::unique_ptr<Parameter>>& params() const { return params_; }
  Parameter* Find(const std::string& name) const;

  // Values of every entry, in params() order.
  std::vector<Tensor> Snapshot() const;
  // Inverse of Snapshot() of this same set (same count and shapes; CHECKed).
  void Restore(const std::vector<Tensor>& snapshot);

  // Which entries a save or load covers (all when null): e.g. the replicated ones, or the
  // expert-local ones a worker saves for itself.
  using Filter = std::function<bool(const Parameter&)>;

  // Replaces *bytes with the serialised set, or its `keep` subset (format above). Fails only
  // for a name longer than the format allows (InvalidArgument).
  Status SaveTo(std::string* bytes, const Filter& keep = nullptr) const;
  // Loads values written by SaveTo of a set with the same names, kinds and shapes (in any
  // order) as this set's `keep` subset. On error nothing is changed: InvalidArgument for a
  // missing, extra, duplicate, wrong-kind or wrong-shape entry; Corruption for bad magic,
  // truncation or checksum.
  // Partial (found != null): one of several files that together hold the subset (the
  // expert-local parameters of a job, saved by their owners): entries of the bytes that are not
  // in the subset here are skipped, subset entries absent from them are left as they are, and
  // the names loaded are added to *found.
  // `prefix`: the bytes' entry N is this set's entry prefix + N (the set of a model that
  // another adopted under that prefix: a distillation teacher saved by its own job).
  Status LoadFrom(std::string_view bytes, const Filter& keep = nullptr,
                  std::vector<std::string>* found = nullptr, std::string_view prefix = {});

 private:
  Parameter* AddEntry(const std::string& name, const std::vector<int64_t>& shape, bool is_buffer);

  std::vector<std::unique_ptr<Parameter>> params_;
};

}  // namespace moerec

#endif  // MOEREC_CORE_PARAMETER_H_
