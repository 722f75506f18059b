#include "data/batch.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace moerec {
namespace {

template <typename T>
void AppendRange(const std::vector<T>& src, int64_t begin, int64_t end, std::vector<T>* dst) {
  dst->insert(dst->end(), src.begin() + begin, src.begin() + end);
}

// dst[k * width .. (k + 1) * width) = src[perm[k] * width ..) for every k.
template <typename T>
void GatherRows(const std::vector<T>& src, const std::vector<int64_t>& perm, int64_t width,
                std::vector<T>* dst) {
  dst->resize(src.size());
  for (size_t k = 0; k < perm.size(); ++k) {
    std::copy_n(src.begin() + perm[k] * width, width, dst->begin() + k * width);
  }
}

}  // namespace

void Batch::AppendFrom(const Batch& src, int64_t begin, int64_t end) {
  CHECK_LE(0, begin);
  CHECK_LE(begin, end);
  CHECK_LE(end, src.size);
  if (begin == end) return;
  if (size == 0 && (!SameLayout(src) || static_cast<int>(offsets.size()) != num_slots)) {
    Reset(src.num_tasks, src.num_slots, src.num_dense);
  }
  CHECK(SameLayout(src)) << "batch layouts differ";
  const bool with_truth = src.has_truth();
  CHECK(size == 0 || with_truth == has_truth()) << "appending a batch with different truth columns";
  const int64_t n = end - begin;
  const int64_t t = num_tasks;
  const int64_t f = num_dense;
  AppendRange(src.domain, begin, end, &domain);
  AppendRange(src.user, begin, end, &user);
  AppendRange(src.labels, begin * t, end * t, &labels);
  AppendRange(src.label_mask, begin * t, end * t, &label_mask);
  if (with_truth) AppendRange(src.truth, begin * t, end * t, &truth);
  AppendRange(src.dense, begin * f, end * f, &dense);
  for (int s = 0; s < num_slots; ++s) {
    const std::vector<uint32_t>& so = src.offsets[s];
    std::vector<uint32_t>& o = offsets[s];
    const uint32_t first = so[begin];
    const uint32_t base = o.back();
    ids[s].insert(ids[s].end(), src.ids[s].begin() + first, src.ids[s].begin() + so[end]);
    const size_t at = o.size();
    o.resize(at + n);
    for (int64_t i = 0; i < n; ++i) o[at + i] = base + (so[begin + i + 1] - first);
  }
  size += n;
}

Status Batch::Validate(int num_domains) const {
  const auto bad = [](const std::string& what) { return InvalidArgument(what); };
  if (size < 0 || num_tasks < 0 || num_slots < 0 || num_dense < 0) {
    return bad("negative batch dimensions");
  }
  const size_t b = size;
  const size_t bt = b * num_tasks;
  if (domain.size() != b) return bad("domain has " + std::to_string(domain.size()) + " entries");
  if (user.size() != b) return bad("user has " + std::to_string(user.size()) + " entries");
  if (labels.size() != bt) return bad("labels has " + std::to_string(labels.size()) + " entries");
  if (label_mask.size() != bt) return bad("label_mask has wrong size");
  if (!truth.empty() && truth.size() != bt) return bad("truth has wrong size");
  if (dense.size() != b * num_dense) return bad("dense has wrong size");
  if (offsets.size() != static_cast<size_t>(num_slots) ||
      ids.size() != static_cast<size_t>(num_slots)) {
    return bad("offsets/ids do not have num_slots entries");
  }
  for (size_t i = 0; i < b; ++i) {
    if (num_domains > 0 && (domain[i] < 0 || domain[i] >= num_domains)) {
      return bad("sample " + std::to_string(i) + ": domain " + std::to_string(domain[i]) +
                 " not in [0, " + std::to_string(num_domains) + ")");
    }
  }
  for (size_t k = 0; k < bt; ++k) {
    if (labels[k] != 0.0f && labels[k] != 1.0f) {
      return bad("sample " + std::to_string(k / num_tasks) + " task " +
                 std::to_string(k % num_tasks) + ": label " + std::to_string(labels[k]) +
                 " is not 0 or 1");
    }
    if (label_mask[k] > 1) {
      return bad("sample " + std::to_string(k / num_tasks) + ": label_mask is not 0 or 1");
    }
    if (!truth.empty() && !(truth[k] >= 0.0f && truth[k] <= 1.0f)) {
      return bad("sample " + std::to_string(k / num_tasks) + ": truth " + std::to_string(truth[k]) +
                 " not in [0, 1]");
    }
  }
  for (size_t k = 0; k < dense.size(); ++k) {
    if (!std::isfinite(dense[k])) {
      return bad("sample " + std::to_string(k / num_dense) + " dense " +
                 std::to_string(k % num_dense) + " is not finite");
    }
  }
  for (int s = 0; s < num_slots; ++s) {
    const std::vector<uint32_t>& o = offsets[s];
    if (o.size() != b + 1) return bad("slot " + std::to_string(s) + ": offsets have wrong size");
    if (o[0] != 0) return bad("slot " + std::to_string(s) + ": offsets do not start at 0");
    for (size_t i = 0; i < b; ++i) {
      if (o[i + 1] < o[i]) {
        return bad("slot " + std::to_string(s) + ": offsets decrease at sample " +
                   std::to_string(i));
      }
    }
    if (o[b] != ids[s].size()) {
      return bad("slot " + std::to_string(s) + ": last offset " + std::to_string(o[b]) +
                 " != number of ids " + std::to_string(ids[s].size()));
    }
  }
  return Status::OK();
}

void SortBatchByDomain(Batch* batch, int num_domains, std::vector<int64_t>* domain_begin) {
  CHECK_GE(num_domains, 1);
  const int64_t b = batch->size;
  std::vector<int64_t>& begin = *domain_begin;
  begin.assign(num_domains + 1, 0);
  bool sorted = true;
  for (int64_t i = 0; i < b; ++i) {
    const int32_t d = batch->domain[i];
    CHECK(d >= 0 && d < num_domains)
        << "sample " << i << ": domain " << d << " not in [0, " << num_domains << ")";
    ++begin[d + 1];
    if (i > 0 && d < batch->domain[i - 1]) sorted = false;
  }
  for (int d = 0; d < num_domains; ++d) begin[d + 1] += begin[d];
  if (sorted) return;

  // perm[k] = the old row that goes to row k (counting sort keeps equal domains in order).
  std::vector<int64_t> next(begin.begin(), begin.end() - 1);
  std::vector<int64_t> perm(b);
  for (int64_t i = 0; i < b; ++i) perm[next[batch->domain[i]]++] = i;

  Batch out;
  out.size = b;
  out.num_tasks = batch->num_tasks;
  out.num_slots = batch->num_slots;
  out.num_dense = batch->num_dense;
  GatherRows(batch->domain, perm, 1, &out.domain);
  GatherRows(batch->user, perm, 1, &out.user);
  GatherRows(batch->labels, perm, batch->num_tasks, &out.labels);
  GatherRows(batch->label_mask, perm, batch->num_tasks, &out.label_mask);
  if (batch->has_truth()) GatherRows(batch->truth, perm, batch->num_tasks, &out.truth);
  GatherRows(batch->dense, perm, batch->num_dense, &out.dense);
  out.offsets.resize(batch->num_slots);
  out.ids.resize(batch->num_slots);
  for (int s = 0; s < batch->num_slots; ++s) {
    const std::vector<uint32_t>& so = batch->offsets[s];
    const std::vector<uint64_t>& sids = batch->ids[s];
    std::vector<uint32_t>& o = out.offsets[s];
    std::vector<uint64_t>& ids = out.ids[s];
    o.resize(b + 1);
    ids.resize(sids.size());
    o[0] = 0;
    for (int64_t k = 0; k < b; ++k) {
      const uint32_t from = so[perm[k]];
      const uint32_t n = so[perm[k] + 1] - from;
      std::copy_n(sids.begin() + from, n, ids.begin() + o[k]);
      o[k + 1] = o[k] + n;
    }
  }
  std::swap(*batch, out);
}

}  // namespace moerec
