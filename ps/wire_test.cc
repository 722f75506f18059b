#include "ps/wire.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/random.h"

namespace moerec {
namespace {

// Frames must be 8-byte aligned for decoding; copy into an aligned buffer.
struct Aligned {
  std::vector<uint64_t> words;
  size_t bytes = 0;
  explicit Aligned(const std::string& s) : words((s.size() + 7) / 8), bytes(s.size()) {
    if (!s.empty()) std::memcpy(words.data(), s.data(), s.size());  // data() is null when empty
  }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(words.data()), bytes);
  }
};

class WireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys0_ = {1, 2, 3};
    keys1_ = {99};
    vals0_.resize(3 * 4);
    vals1_.resize(1 * 2);
    for (size_t i = 0; i < vals0_.size(); ++i) vals0_[i] = 0.5f * i;
    for (size_t i = 0; i < vals1_.size(); ++i) vals1_[i] = -1.0f * i;
    shapes_ = {TableShape{4}, TableShape{2}};
  }
  std::vector<SliceView> Slices() const {
    return {SliceView{0, 4, 3, keys0_.data(), vals0_.data()},
            SliceView{1, 2, 1, keys1_.data(), vals1_.data()}};
  }
  std::string PushFrame() const {
    PsRequest req;
    req.set_op(PS_PUSH);
    req.set_request_id(7);
    req.set_worker(1);
    req.set_step(12);
    std::string frame;
    EncodeFrame(&req, Slices(), true, true, &frame);
    return frame;
  }
  Status Decode(const std::string& frame) {
    Aligned a(frame);
    PsRequest req;
    std::vector<SliceView> slices;
    return DecodeRequest(a.view(), shapes_, &req, &slices);
  }

  std::vector<uint64_t> keys0_, keys1_;
  std::vector<float> vals0_, vals1_;
  std::vector<TableShape> shapes_;
};

TEST_F(WireTest, PushRoundTrip) {
  Aligned a(PushFrame());
  PsRequest req;
  std::vector<SliceView> slices;
  ASSERT_TRUE(DecodeRequest(a.view(), shapes_, &req, &slices).ok());
  EXPECT_EQ(req.op(), PS_PUSH);
  EXPECT_EQ(req.request_id(), 7u);
  EXPECT_EQ(req.worker(), 1);
  EXPECT_EQ(req.step(), 12);
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[0].num_keys, 3u);
  EXPECT_EQ(std::vector<uint64_t>(slices[0].keys, slices[0].keys + 3), keys0_);
  EXPECT_EQ(std::vector<float>(slices[0].values, slices[0].values + 12), vals0_);
  EXPECT_EQ(slices[1].keys[0], 99u);
  EXPECT_EQ(slices[1].values[1], -1.0f);
}

TEST_F(WireTest, PullReplyRoundTripCarriesRowsOnly) {
  PsReply rep;
  rep.set_request_id(3);
  std::string frame;
  EncodeFrame(&rep, Slices(), false, true, &frame);
  Aligned a(frame);
  PsReply got;
  std::vector<SliceView> rows;
  ASSERT_TRUE(DecodeReply(a.view(), 3, Slices(), &got, &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].keys, nullptr);
  EXPECT_EQ(std::vector<float>(rows[0].values, rows[0].values + 12), vals0_);
  // A reply to another request, or with other slices, is refused.
  EXPECT_NE(DecodeReply(a.view(), 4, Slices(), &got, &rows).message().find("request_id"),
            std::string::npos);
  std::vector<SliceView> other = Slices();
  other[1].num_keys = 2;
  EXPECT_FALSE(DecodeReply(a.view(), 3, other, &got, &rows).ok());
}

TEST_F(WireTest, ErrorReplyPassesItsCode) {
  PsReply rep;
  rep.set_request_id(5);
  rep.set_code(static_cast<int>(StatusCode::kInvalidArgument));
  rep.set_error("bad table");
  std::string frame;
  EncodeFrame(&rep, {}, false, true, &frame);
  Aligned a(frame);
  PsReply got;
  std::vector<SliceView> rows;
  ASSERT_TRUE(DecodeReply(a.view(), 5, Slices(), &got, &rows).ok());
  EXPECT_EQ(got.code(), static_cast<int>(StatusCode::kInvalidArgument));
  EXPECT_EQ(got.error(), "bad table");
}

TEST_F(WireTest, EachBadFieldIsNamed) {
  const std::string good = PushFrame();
  EXPECT_NE(Decode(good.substr(0, 5)).message().find("shorter than"), std::string::npos);
  std::string bad_magic = good;
  bad_magic[0] ^= 1;
  EXPECT_NE(Decode(bad_magic).message().find("magic"), std::string::npos);
  std::string long_header = good;
  const uint32_t huge = 1u << 30;
  std::memcpy(long_header.data() + 4, &huge, 4);
  EXPECT_NE(Decode(long_header).message().find("header_len"), std::string::npos);
  std::string flipped = good;
  flipped.back() ^= 0x40;
  EXPECT_EQ(Decode(flipped).code(), StatusCode::kCorruption);
  EXPECT_NE(Decode(good.substr(0, good.size() - 4)).message(), "");

  auto with = [&](auto edit) {
    PsRequest req;
    req.set_op(PS_PUSH);
    req.set_request_id(1);
    req.set_worker(0);
    req.set_step(0);
    std::string frame;
    EncodeFrame(&req, Slices(), true, true, &frame);
    // Re-encode the header after the edit, keeping the payload and its checksum.
    Aligned a(frame);
    uint32_t len = 0;
    std::memcpy(&len, frame.data() + 4, 4);
    PsRequest parsed;
    parsed.ParseFromArray(frame.data() + 8, static_cast<int>(len));
    edit(&parsed);
    const size_t old_start = (8 + len + 7) / 8 * 8;
    const std::string payload = frame.substr(old_start);
    const std::string head = parsed.SerializeAsString();
    std::string out(8, '\0');
    const uint32_t hl = static_cast<uint32_t>(head.size());
    std::memcpy(out.data(), &kPsMagic, 4);
    std::memcpy(out.data() + 4, &hl, 4);
    out += head;
    out.resize((out.size() + 7) / 8 * 8, '\0');
    return out + payload;
  };
  EXPECT_NE(
      Decode(with([](PsRequest* r) { r->set_op(static_cast<PsOp>(42)); })).message().find("op"),
      std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->mutable_tables(0)->set_table(5); }))
                .message()
                .find("tables[0].table: 5 is not in [0, 2)"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->mutable_tables(1)->set_dim(3); }))
                .message()
                .find("tables[1].dim: 3 but table 1 has dim 2"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->mutable_tables(0)->set_num_keys(4); }))
                .message()
                .find("payload is"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->set_step(-3); })).message().find("step"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->set_worker(-1); })).message().find("worker"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->clear_request_id(); })).message().find("request_id"),
            std::string::npos);
  EXPECT_NE(Decode(with([](PsRequest* r) { r->mutable_tables(0)->set_num_keys(0xffffffffu); }))
                .message()
                .find("num_keys"),
            std::string::npos);
}

TEST_F(WireTest, RandomCorruptionNeverCrashes) {
  const std::string good = PushFrame();
  Rng rng(17);
  int refused = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string frame = good;
    const int flips = 1 + static_cast<int>(rng.Below(4));
    for (int f = 0; f < flips; ++f)
      frame[rng.Below(frame.size())] ^= static_cast<char>(1 + rng.Below(255));
    if (rng.Below(4) == 0) frame.resize(rng.Below(frame.size() + 1));
    if (!Decode(frame).ok()) ++refused;
  }
  EXPECT_GT(refused, 19000);  // the CRC and the structure checks catch nearly every change
}

}  // namespace
}  // namespace moerec
