#include "comm/communicator.h"

#include <algorithm>
#include <limits>

#include "comm/internal/all_to_all_check.h"

namespace moerec {
namespace {

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

template <typename T>
Status SelfAllToAll(const T* send, T* recv, int64_t count) {
  RETURN_IF_ERROR(CheckAllToAll(send, recv, count, kNoLimit));
  std::copy_n(send, count, recv);
  return Status::OK();
}

template <typename T>
Status SelfAllToAllV(const T* send, const std::vector<int64_t>& send_counts,
                     const std::vector<int64_t>& send_displs, T* recv,
                     const std::vector<int64_t>& recv_counts,
                     const std::vector<int64_t>& recv_displs) {
  RETURN_IF_ERROR(CheckAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs,
                                 /*size=*/1, kNoLimit));
  RETURN_IF_ERROR(CheckRecvCounts(/*rank=*/0, send_counts, recv_counts));
  std::copy_n(send + send_displs[0], send_counts[0], recv + recv_displs[0]);
  return Status::OK();
}

}  // namespace

int64_t PackedDisplacements(const std::vector<int64_t>& counts, std::vector<int64_t>* displs) {
  displs->resize(counts.size());
  int64_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    (*displs)[r] = total;
    total += counts[r];
  }
  return total;
}

Status SelfCommunicator::ExchangeCounts(const std::vector<int64_t>& send_counts,
                                        std::vector<int64_t>* recv_counts) {
  RETURN_IF_ERROR(CheckCounts("ExchangeCounts: send_counts", send_counts, /*size=*/1));
  *recv_counts = send_counts;
  return Status::OK();
}

Status SelfCommunicator::AllToAll(const float* send, float* recv, int64_t count) {
  return SelfAllToAll(send, recv, count);
}
Status SelfCommunicator::AllToAll(const int32_t* send, int32_t* recv, int64_t count) {
  return SelfAllToAll(send, recv, count);
}
Status SelfCommunicator::AllToAll(const int64_t* send, int64_t* recv, int64_t count) {
  return SelfAllToAll(send, recv, count);
}

Status SelfCommunicator::AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, float* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return SelfAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs);
}
Status SelfCommunicator::AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, int32_t* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return SelfAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs);
}
Status SelfCommunicator::AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, int64_t* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return SelfAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs);
}

}  // namespace moerec
