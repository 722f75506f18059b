#include "comm/teacher_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/checksum.h"

namespace moerec {
namespace {

// A request of 3 pairs of width 2 over domains {0, 0, 2}.
std::string Request() {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> domains = {0, 0, 2};
  return EncodeTeacherRequest(ConstMatView(x.data(), 3, 2, 2), domains.data());
}

void ExpectRefused(const std::string& bytes, StatusCode code, const std::string& needle) {
  TeacherRequest out;
  const Status s = DecodeTeacherRequest(bytes, 2, 3, &out);
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s;
}

TEST(TeacherWireTest, RequestsAndRepliesRoundTrip) {
  TeacherRequest out;
  ASSERT_TRUE(DecodeTeacherRequest(Request(), 2, 3, &out).ok());
  EXPECT_EQ(out.pairs, 3);
  EXPECT_EQ(out.features, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out.domains, (std::vector<int32_t>{0, 0, 2}));
  ASSERT_TRUE(DecodeTeacherRequest(EncodeTeacherDone(), 2, 3, &out).ok());
  EXPECT_EQ(out.pairs, -1);

  const std::vector<float> logits = {0.5f, -1.0f, 2.0f};
  std::vector<float> got(3);
  ASSERT_TRUE(
      DecodeTeacherReply(EncodeTeacherReply(Status::OK(), logits.data(), 3), 3, got.data()).ok());
  EXPECT_EQ(got, logits);
  const Status error = DecodeTeacherReply(
      EncodeTeacherReply(InvalidArgument("width 7, this teacher reads 2"), nullptr, 0), 3,
      got.data());
  EXPECT_EQ(error.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "width 7, this teacher reads 2");
  const Status short_reply =
      DecodeTeacherReply(EncodeTeacherReply(Status::OK(), logits.data(), 2), 3, got.data());
  EXPECT_EQ(short_reply.code(), StatusCode::kCorruption) << short_reply;
}

TEST(TeacherWireTest, BadRequestsAreRefusedNamingWhatIsWrong) {
  const std::string good = Request();
  ExpectRefused(good.substr(0, 10), StatusCode::kCorruption, "too short");
  std::string flipped = good;
  flipped[30] ^= 0x10;
  ExpectRefused(flipped, StatusCode::kCorruption, "CRC-32");
  std::string magic = good;
  magic[0] = 'X';
  ExpectRefused(magic, StatusCode::kCorruption, "bad magic");
  // A request of another width, and domains out of range or out of order.
  const std::vector<float> x(9, 1.0f);
  const std::vector<int32_t> d3 = {0, 1, 2};
  TeacherRequest out;
  const Status wide = DecodeTeacherRequest(
      EncodeTeacherRequest(ConstMatView(x.data(), 3, 3, 3), d3.data()), 2, 3, &out);
  EXPECT_NE(wide.message().find("this teacher reads rows of width 2"), std::string::npos) << wide;
  const std::vector<int32_t> unordered = {0, 2, 1};
  ExpectRefused(EncodeTeacherRequest(ConstMatView(x.data(), 3, 2, 2), unordered.data()),
                StatusCode::kInvalidArgument, "pair 2 has domain 1");
  const std::vector<int32_t> outside = {0, 0, 3};
  ExpectRefused(EncodeTeacherRequest(ConstMatView(x.data(), 3, 2, 2), outside.data()),
                StatusCode::kInvalidArgument, "pair 2 has domain 3");
  // A body that does not match the pair count (the CRC recomputed over the lie).
  std::string lie = good.substr(0, good.size() - 4);
  const int64_t pairs = 4;
  lie.replace(8, 8, reinterpret_cast<const char*>(&pairs), 8);
  const uint32_t crc = Crc32(lie);
  lie.append(reinterpret_cast<const char*>(&crc), 4);
  ExpectRefused(lie, StatusCode::kCorruption, "bytes of body for 4 pairs");
}

}  // namespace
}  // namespace moerec
