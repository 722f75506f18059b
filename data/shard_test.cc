#include "data/shard.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/random.h"
#include "data/test_util.h"

namespace moerec {
namespace {

// Whether a temporary file of a writer of `path` exists ("<path>.tmp.*").
bool TempExists(const std::string& path) {
  const std::filesystem::path p(path);
  for (const auto& e : std::filesystem::directory_iterator(p.parent_path())) {
    if (e.path().filename().string().rfind(p.filename().string() + ".tmp.", 0) == 0) return true;
  }
  return false;
}

using testing::ExpectBatchEq;
using testing::MakeHeader;
using testing::MakeRandomBatch;
using testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Concatenation of all blocks of a shard.
Batch ReadAll(const ShardReader& r) {
  Batch all, block;
  for (int i = 0; i < r.num_blocks(); ++i) {
    Status s = r.ReadBlock(i, &block);
    EXPECT_TRUE(s.ok()) << s.ToString();
    all.AppendFrom(block, 0, block.size);
  }
  return all;
}

TEST(BatchTest, AppendFromRanges) {
  const ShardHeader h = MakeHeader(2, 3, 2, true, 4);
  const Batch src = MakeRandomBatch(h, 50, 1);
  ASSERT_TRUE(src.Validate(4).ok());
  Batch dst;
  dst.AppendFrom(src, 0, 17);
  dst.AppendFrom(src, 17, 17);
  dst.AppendFrom(src, 17, 50);
  ASSERT_TRUE(dst.Validate(4).ok());
  ExpectBatchEq(dst, src);
  Batch one;
  one.AppendFrom(src, 20, 21);
  EXPECT_EQ(one.user[0], src.user[20]);
  EXPECT_EQ(one.ids[1].size(), src.offsets[1][21] - src.offsets[1][20]);
}

TEST(BatchTest, ValidateNamesTheProblem) {
  const ShardHeader h = MakeHeader(2, 2, 1, false, 3);
  Batch b = MakeRandomBatch(h, 10, 2);
  ASSERT_TRUE(b.Validate(3).ok());
  b.labels[5] = 0.5f;
  EXPECT_NE(b.Validate(3).message().find("label"), std::string::npos);
  b = MakeRandomBatch(h, 10, 2);
  b.domain[3] = 3;
  EXPECT_NE(b.Validate(3).message().find("domain 3"), std::string::npos);
  b = MakeRandomBatch(h, 10, 2);
  b.offsets[1][10] += 1;
  EXPECT_FALSE(b.Validate(3).ok());
}

TEST(ShardTest, RoundTripAcrossBlockBoundaries) {
  TempDir dir;
  for (bool truth : {false, true}) {
    const ShardHeader h = MakeHeader(3, 5, 4, truth, 6);
    const std::string path = dir.file(truth ? "t.mrs" : "f.mrs");
    auto w = ShardWriter::Open(path, h, /*block_samples=*/100);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    Batch all;
    // Appends of uneven sizes: blocks are cut at 100 regardless.
    int64_t user = 0;
    for (int64_t n : {1, 99, 250, 0, 37}) {
      Batch b = MakeRandomBatch(h, n, n + 7, user);
      user += n;
      ASSERT_TRUE((*w)->Append(b).ok());
      all.AppendFrom(b, 0, b.size);
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "final name must appear only on Close";
    ASSERT_TRUE((*w)->Close().ok());
    EXPECT_FALSE(TempExists(path));

    auto r = ShardReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->num_samples(), 387);
    EXPECT_EQ((*r)->num_blocks(), 4);
    EXPECT_EQ((*r)->block_samples(3), 87);
    EXPECT_EQ((*r)->header().has_truth(), truth);
    EXPECT_EQ((*r)->header().slot_names(4), "slot4");
    ExpectBatchEq(ReadAll(**r), all);
  }
}

TEST(ShardTest, EmptyShardAndEmptySlots) {
  TempDir dir;
  const ShardHeader h = MakeHeader(1, 2, 0, false, 1);
  auto w = ShardWriter::Open(dir.file("e.mrs"), h);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto r = ShardReader::Open(dir.file("e.mrs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->num_blocks(), 0);

  auto w2 = ShardWriter::Open(dir.file("z.mrs"), h);
  Batch b = MakeRandomBatch(h, 30, 3, 0, /*max_ids=*/0);
  ASSERT_TRUE((*w2)->Append(b).ok());
  ASSERT_TRUE((*w2)->Close().ok());
  auto r2 = ShardReader::Open(dir.file("z.mrs"));
  ASSERT_TRUE(r2.ok());
  ExpectBatchEq(ReadAll(**r2), b);
}

TEST(ShardTest, WriterRejectsBadInputAndAbandonsTmp) {
  TempDir dir;
  const ShardHeader h = MakeHeader(2, 1, 0, false, 2);
  const std::string path = dir.file("x.mrs");
  {
    auto w = ShardWriter::Open(path, h);
    ASSERT_TRUE(w.ok());
    Batch wrong = MakeRandomBatch(MakeHeader(3, 1, 0, false, 2), 5, 1);
    EXPECT_EQ((*w)->Append(wrong).code(), StatusCode::kInvalidArgument);
    Batch bad = MakeRandomBatch(h, 5, 1);
    bad.domain[0] = 7;
    EXPECT_EQ((*w)->Append(bad).code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(TempExists(path));
    // Destroyed without Close: like a crashed writer, nothing appears under the final name.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(TempExists(path));
  ShardHeader bad_header = h;
  bad_header.add_slot_names("extra");
  EXPECT_FALSE(ShardWriter::Open(path, bad_header).ok());
}

// Shards come from outside (converters, other jobs, copies): any damage is an error naming the
// file, never a crash, a hang or silently different samples.
TEST(ShardTest, RandomDamageIsAnErrorNeverACrash) {
  TempDir dir;
  const ShardHeader h = MakeHeader(2, 3, 2, /*truth=*/true, 3);
  const std::string path = dir.file("good.mrs");
  {
    auto w = ShardWriter::Open(path, h, /*block_samples=*/40);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(MakeRandomBatch(h, 150, 11, 0)).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  const std::string good = ReadFile(path);
  Batch reference;
  {
    auto r = ShardReader::Open(path);
    ASSERT_TRUE(r.ok());
    reference = ReadAll(**r);
  }
  Rng rng(17);
  const std::string bad_path = dir.file("bad.mrs");
  int refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = good;
    if (trial % 4 == 0) {
      bytes.resize(rng.Below(bytes.size()));  // truncated
    } else {
      const int flips = 1 + static_cast<int>(rng.Below(3));
      for (int f = 0; f < flips; ++f) {
        bytes[rng.Below(bytes.size())] ^= static_cast<char>(1 + rng.Below(255));
      }
    }
    WriteFile(bad_path, bytes);
    auto r = ShardReader::Open(bad_path);
    Status first_error = r.status();
    Batch all, block;
    if (r.ok()) {
      for (int i = 0; i < (*r)->num_blocks() && first_error.ok(); ++i) {
        first_error = (*r)->ReadBlock(i, &block);
        if (first_error.ok()) all.AppendFrom(block, 0, block.size);
      }
    }
    if (!first_error.ok()) {
      ++refused;
      EXPECT_NE(first_error.message().find("bad.mrs"), std::string::npos) << first_error.ToString();
      continue;
    }
    // Damage the checksums cannot see must not change a sample.
    ExpectBatchEq(all, reference);
  }
  EXPECT_GT(refused, 390);
}

TEST(ShardTest, ConcurrentReadBlock) {
  TempDir dir;
  const ShardHeader h = MakeHeader(2, 4, 3, false, 3);
  const Batch all = MakeRandomBatch(h, 2000, 5);
  auto w = ShardWriter::Open(dir.file("c.mrs"), h, 64);
  ASSERT_TRUE((*w)->Append(all).ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto r = ShardReader::Open(dir.file("c.mrs"));
  ASSERT_TRUE(r.ok());
  const ShardReader& reader = **r;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Batch b;
      for (int rep = 0; rep < 3; ++rep) {
        for (int i = t; i < reader.num_blocks(); i += 2) {
          if (!reader.ReadBlock(i, &b).ok() || b.user[0] != static_cast<uint64_t>(i) * 64) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

class ShardCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    header_ = MakeHeader(2, 3, 2, true, 4);
    path_ = dir_.file("good.mrs");
    auto w = ShardWriter::Open(path_, header_, 50);
    ASSERT_TRUE((*w)->Append(MakeRandomBatch(header_, 180, 9)).ok());
    ASSERT_TRUE((*w)->Close().ok());
    good_ = ReadFile(path_);
  }

  // Opens and reads every block of `bytes`; returns the first error.
  Status OpenAndReadAll(const std::string& bytes) {
    const std::string p = dir_.file("bad.mrs");
    WriteFile(p, bytes);
    auto r = ShardReader::Open(p);
    if (!r.ok()) return r.status();
    Batch b;
    for (int i = 0; i < (*r)->num_blocks(); ++i) RETURN_IF_ERROR((*r)->ReadBlock(i, &b));
    return Status::OK();
  }

  TempDir dir_;
  ShardHeader header_;
  std::string path_;
  std::string good_;
};

TEST_F(ShardCorruptionTest, EveryTruncationIsDetected) {
  ASSERT_TRUE(OpenAndReadAll(good_).ok());
  for (size_t len = 0; len < good_.size(); len += 7) {
    Status s = OpenAndReadAll(good_.substr(0, len));
    ASSERT_FALSE(s.ok()) << "truncated to " << len;
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find("bad.mrs"), std::string::npos);
  }
}

TEST_F(ShardCorruptionTest, EveryByteFlipIsDetected) {
  // Every byte of the file is covered by a magic, a crc or a structural check.
  for (size_t i = 0; i < good_.size(); ++i) {
    std::string bad = good_;
    bad[i] ^= 0x5a;
    Status s = OpenAndReadAll(bad);
    ASSERT_FALSE(s.ok()) << "flip at byte " << i << " went unnoticed";
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  }
}

TEST_F(ShardCorruptionTest, MessageNamesBlockAndProblem) {
  auto r = ShardReader::Open(path_);
  ASSERT_TRUE(r.ok());
  std::string bad = good_;
  // Flip a byte inside block 2's payload.
  const size_t inside = good_.size() / 2;
  bad[inside] ^= 1;
  WriteFile(dir_.file("bad.mrs"), bad);
  auto rb = ShardReader::Open(dir_.file("bad.mrs"));
  ASSERT_TRUE(rb.ok());
  Batch b;
  int failed = 0;
  for (int i = 0; i < (*rb)->num_blocks(); ++i) {
    Status s = (*rb)->ReadBlock(i, &b);
    if (!s.ok()) {
      ++failed;
      EXPECT_NE(s.message().find("block " + std::to_string(i)), std::string::npos);
      EXPECT_NE(s.message().find("crc"), std::string::npos) << s.message();
    }
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(ShardReader::Open(dir_.file("missing.mrs")).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace moerec
