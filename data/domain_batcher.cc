#include "data/domain_batcher.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"

namespace moerec {

DomainBatcher::DomainBatcher(int64_t batch_size, int num_domains, int only_domain)
    : batch_size_(batch_size), only_domain_(only_domain), pending_(num_domains) {
  CHECK_GE(batch_size, 1);
  CHECK_GE(num_domains, 1);
  CHECK(only_domain >= -1 && only_domain < num_domains) << only_domain;
}

void DomainBatcher::Add(const Batch& batch) {
  const int num_domains = static_cast<int>(pending_.size());
  int64_t i = 0;
  while (i < batch.size) {
    const int32_t d = batch.domain[i];
    CHECK(d >= 0 && d < num_domains) << "domain " << d << " of sample " << i;
    // A run of samples of one domain, cut where the pending batch fills.
    int64_t end = i + 1;
    while (end < batch.size && batch.domain[end] == d) ++end;
    if (only_domain_ >= 0 && d != only_domain_) {
      i = end;
      continue;
    }
    while (i < end) {
      Batch& p = pending_[d];
      const int64_t take = std::min(end - i, batch_size_ - p.size);
      p.AppendFrom(batch, i, i + take);
      i += take;
      if (p.size == batch_size_) Finish(d);
    }
  }
}

void DomainBatcher::Finish(int domain) {
  ready_.push_back(std::move(pending_[domain]));
  pending_[domain] = Batch();
}

void DomainBatcher::Flush() {
  for (size_t d = 0; d < pending_.size(); ++d) {
    if (pending_[d].size > 0) Finish(static_cast<int>(d));
  }
}

bool DomainBatcher::Pop(Batch* out) {
  if (ready_.empty()) return false;
  *out = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

void DomainBatcher::Clear() {
  for (Batch& p : pending_) p = Batch();
  ready_.clear();
}

}  // namespace moerec
