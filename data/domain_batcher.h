// DomainBatcher regroups a stream of mixed-domain batches into single-domain batches of a fixed
// size (MoE-MLoRA's phases: every batch holds one domain, MODELS.md).
//
// Samples go into one pending batch per domain, in arrival order; a pending batch that reaches
// `batch_size` is finished and queued. So the sequence of domains follows the (shuffled) input:
// each epoch interleaves the domains differently, and a domain with a share p of the samples
// gets about a share p of the batches. At the end of the input, Flush() finishes every
// non-empty pending batch (short, in domain order). With `only_domain` >= 0 the samples of every
// other domain are dropped: the one-domain phases get full batches of their domain.
// Memory: at most num_domains pending batches plus the queue.
// The output depends only on the input sequence. Thread-safety: one thread.
#ifndef MOEREC_DATA_DOMAIN_BATCHER_H_
#define MOEREC_DATA_DOMAIN_BATCHER_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "data/batch.h"

namespace moerec {

class DomainBatcher {
 public:
  // batch_size >= 1; num_domains >= 1; only_domain in [-1, num_domains).
  DomainBatcher(int64_t batch_size, int num_domains, int only_domain = -1);

  // Adds every sample of `batch` (domains in [0, num_domains): batches are validated when
  // read; CHECKed).
  void Add(const Batch& batch);
  // Finishes every non-empty pending batch (the end of the input).
  void Flush();
  // Moves the oldest finished batch into *out; false when none is queued.
  bool Pop(Batch* out);
  // Drops everything pending and queued (a new epoch).
  void Clear();

  int only_domain() const { return only_domain_; }

 private:
  void Finish(int domain);

  const int64_t batch_size_;
  const int only_domain_;
  std::vector<Batch> pending_;  // per domain
  std::deque<Batch> ready_;
};

}  // namespace moerec

#endif  // MOEREC_DATA_DOMAIN_BATCHER_H_
