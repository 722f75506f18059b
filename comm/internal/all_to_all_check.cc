#include "comm/internal/all_to_all_check.h"

#include <string>

namespace moerec {
namespace {

// The counts and displacements of one side ("send" or "recv") of AllToAllV.
Status CheckBlocks(const std::string& side, const std::vector<int64_t>& counts,
                   const std::vector<int64_t>& displs, int size, int64_t max_end) {
  const std::string counts_name = side + "_counts", displs_name = side + "_displs";
  RETURN_IF_ERROR(CheckCounts(("AllToAllV: " + counts_name).c_str(), counts, size));
  if (static_cast<int64_t>(displs.size()) != size) {
    return InvalidArgument("AllToAllV: " + displs_name + " has " + std::to_string(displs.size()) +
                           " entries, not " + std::to_string(size) + " (one per rank)");
  }
  for (int r = 0; r < size; ++r) {
    const std::string at = "[" + std::to_string(r) + "]";
    if (displs[r] < 0) {
      return InvalidArgument("AllToAllV: " + displs_name + at + " = " + std::to_string(displs[r]) +
                             " is negative");
    }
    if (displs[r] > max_end || counts[r] > max_end - displs[r]) {
      return InvalidArgument("AllToAllV: " + displs_name + at + " + " + counts_name + at + " = " +
                             std::to_string(displs[r]) + " + " + std::to_string(counts[r]) +
                             " elements is past the limit of " + std::to_string(max_end));
    }
  }
  return Status::OK();
}

Status CheckNotAliased(const char* call, const void* send, const void* recv) {
  if (send != nullptr && send == recv) {
    return InvalidArgument(std::string(call) + ": send and recv are the same buffer");
  }
  return Status::OK();
}

}  // namespace

Status CheckCounts(const char* what, const std::vector<int64_t>& counts, int size) {
  if (static_cast<int64_t>(counts.size()) != size) {
    return InvalidArgument(std::string(what) + " has " + std::to_string(counts.size()) +
                           " entries, not " + std::to_string(size) + " (one per rank)");
  }
  for (int r = 0; r < size; ++r) {
    if (counts[r] < 0) {
      return InvalidArgument(std::string(what) + "[" + std::to_string(r) +
                             "] = " + std::to_string(counts[r]) + " is negative");
    }
  }
  return Status::OK();
}

Status CheckAllToAll(const void* send, const void* recv, int64_t count, int64_t max_count) {
  if (count < 0 || count > max_count) {
    return InvalidArgument("AllToAll: count " + std::to_string(count) + " is not in [0, " +
                           std::to_string(max_count) + "]");
  }
  return CheckNotAliased("AllToAll", send, recv);
}

Status CheckAllToAllV(const void* send, const std::vector<int64_t>& send_counts,
                      const std::vector<int64_t>& send_displs, const void* recv,
                      const std::vector<int64_t>& recv_counts,
                      const std::vector<int64_t>& recv_displs, int size, int64_t max_end) {
  RETURN_IF_ERROR(CheckBlocks("send", send_counts, send_displs, size, max_end));
  RETURN_IF_ERROR(CheckBlocks("recv", recv_counts, recv_displs, size, max_end));
  return CheckNotAliased("AllToAllV", send, recv);
}

Status CheckRecvCounts(int rank, const std::vector<int64_t>& sent,
                       const std::vector<int64_t>& recv_counts) {
  CHECK_EQ(sent.size(), recv_counts.size());
  for (size_t r = 0; r < sent.size(); ++r) {
    if (sent[r] >= 0 && sent[r] != recv_counts[r]) {
      return InvalidArgument("AllToAllV: rank " + std::to_string(rank) + " expects " +
                             std::to_string(recv_counts[r]) + " elements from rank " +
                             std::to_string(r) + ", which sends " + std::to_string(sent[r]));
    }
  }
  return Status::OK();
}

}  // namespace moerec
