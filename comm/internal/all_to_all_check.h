// The local argument checks of the all-to-all calls of Communicator, shared by the backends.
// Each returns InvalidArgument whose message opens with the call ("AllToAllV: ") and names the
// vector, the peer rank and the value that are wrong.
// Thread-safety: pure functions.
#ifndef MOEREC_COMM_INTERNAL_ALL_TO_ALL_CHECK_H_
#define MOEREC_COMM_INTERNAL_ALL_TO_ALL_CHECK_H_

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace moerec {

// `counts` (named `what`, e.g. "ExchangeCounts: send_counts") has `size` entries, all >= 0.
Status CheckCounts(const char* what, const std::vector<int64_t>& counts, int size);

// AllToAll: count >= 0 and at most `max_count`; send != recv unless both are null.
Status CheckAllToAll(const void* send, const void* recv, int64_t count, int64_t max_count);

// AllToAllV on one rank: every vector has `size` entries, counts and displacements are >= 0,
// every block ends (displacement + count) at or below element `max_end`, and send != recv
// unless both are null.
Status CheckAllToAllV(const void* send, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& send_displs, const void* recv,
                      const std::vector<int64_t>& recv_counts,
                      const std::vector<int64_t>& recv_displs, int size, int64_t max_end);

// AllToAllV: recv_counts[r] == sent[r], what rank r sends to `rank`, for every r whose sent[r]
// is >= 0 (a negative one marks a peer whose own arguments were bad). Names the first mismatch.
Status CheckRecvCounts(int rank, const std::vector<int64_t>& sent,
                       const std::vector<int64_t>& recv_counts);

}  // namespace moerec

#endif  // MOEREC_COMM_INTERNAL_ALL_TO_ALL_CHECK_H_
