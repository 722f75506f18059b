// SelfCommunicator's all-to-alls (copies with displacements, the argument checks) and
// PackedDisplacements.
#include "comm/communicator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moerec {
namespace {

bool Mentions(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(PackedDisplacementsTest, RunningSumAndTotal) {
  std::vector<int64_t> displs = {7};
  EXPECT_EQ(PackedDisplacements({3, 0, 5, 1}, &displs), 9);
  EXPECT_EQ(displs, (std::vector<int64_t>{0, 3, 3, 8}));
  EXPECT_EQ(PackedDisplacements({}, &displs), 0);
  EXPECT_TRUE(displs.empty());
}

template <typename T>
void ExpectAllToAllCopies(Communicator* comm) {
  const std::vector<T> send = {T{1}, T{2}, T{3}};
  std::vector<T> recv(3, T{0});
  ASSERT_TRUE(comm->AllToAll(send.data(), recv.data(), 3).ok());
  EXPECT_EQ(recv, send);
  // Elements 1..2 of send land at 3..4 of recv; the rest of recv is untouched.
  std::vector<T> gapped(6, T{-1});
  ASSERT_TRUE(comm->AllToAllV(send.data(), {2}, {1}, gapped.data(), {2}, {3}).ok());
  EXPECT_EQ(gapped, (std::vector<T>{T{-1}, T{-1}, T{-1}, T{2}, T{3}, T{-1}}));
}

TEST(SelfCommunicatorTest, AllToAllsCopySendToRecv) {
  SelfCommunicator comm;
  ExpectAllToAllCopies<float>(&comm);
  ExpectAllToAllCopies<int32_t>(&comm);
  ExpectAllToAllCopies<int64_t>(&comm);
  // Nothing to move is fine, null buffers included.
  EXPECT_TRUE(comm.AllToAll(static_cast<const float*>(nullptr), nullptr, 0).ok());
  EXPECT_TRUE(
      comm.AllToAllV(static_cast<const int64_t*>(nullptr), {0}, {0}, nullptr, {0}, {0}).ok());
}

TEST(SelfCommunicatorTest, ExchangeCountsReturnsTheSendCounts) {
  SelfCommunicator comm;
  std::vector<int64_t> recv;
  ASSERT_TRUE(comm.ExchangeCounts({int64_t{1} << 40}, &recv).ok());
  EXPECT_EQ(recv, std::vector<int64_t>{int64_t{1} << 40});
  const Status two = comm.ExchangeCounts({1, 2}, &recv);
  EXPECT_EQ(two.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Mentions(two, "send_counts has 2 entries, not 1")) << two;
  const Status negative = comm.ExchangeCounts({-3}, &recv);
  EXPECT_EQ(negative.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Mentions(negative, "send_counts[0] = -3 is negative")) << negative;
}

TEST(SelfCommunicatorTest, BadArgumentsAreInvalidArgumentNamingTheProblem) {
  SelfCommunicator comm;
  const std::vector<float> send(4, 1.0f);
  std::vector<float> recv(4, 0.0f);
  const struct {
    std::vector<int64_t> send_counts, send_displs, recv_counts, recv_displs;
    std::string expected;
  } cases[] = {
      {{1, 1}, {0}, {1}, {0}, "AllToAllV: send_counts has 2 entries, not 1"},
      {{1}, {}, {1}, {0}, "AllToAllV: send_displs has 0 entries, not 1"},
      {{1}, {0}, {1}, {0, 0}, "AllToAllV: recv_displs has 2 entries, not 1"},
      {{-1}, {0}, {-1}, {0}, "AllToAllV: send_counts[0] = -1 is negative"},
      {{1}, {-2}, {1}, {0}, "AllToAllV: send_displs[0] = -2 is negative"},
      {{2}, {0}, {3}, {0}, "AllToAllV: rank 0 expects 3 elements from rank 0, which sends 2"},
  };
  for (const auto& c : cases) {
    const Status s = comm.AllToAllV(send.data(), c.send_counts, c.send_displs, recv.data(),
                                    c.recv_counts, c.recv_displs);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.expected;
    EXPECT_TRUE(Mentions(s, c.expected)) << s << " should mention " << c.expected;
  }
  EXPECT_EQ(recv, std::vector<float>(4, 0.0f)) << "a failed call moves nothing";
  std::vector<float> same(4, 1.0f);
  EXPECT_TRUE(Mentions(comm.AllToAll(same.data(), same.data(), 4), "same buffer"));
  EXPECT_TRUE(
      Mentions(comm.AllToAllV(same.data(), {1}, {0}, same.data(), {1}, {2}), "same buffer"));
  EXPECT_TRUE(Mentions(comm.AllToAll(send.data(), recv.data(), -1), "count -1"));
}

}  // namespace
}  // namespace moerec
