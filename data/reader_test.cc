#include "data/reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "data/internal/shuffle_buffer.h"
#include "data/test_util.h"

namespace moerec {
namespace {

using testing::ExpectBatchEq;
using testing::MakeHeader;
using testing::MakeRandomBatch;
using testing::TempDir;

const ShardHeader kHeader = MakeHeader(/*tasks=*/2, /*slots=*/3, /*dense=*/1, /*truth=*/true,
                                       /*domains=*/4);

// Writes a shard of n samples whose users are first_user, first_user + 1, ... and returns them.
Batch WriteShard(const std::string& path, int64_t n, uint64_t first_user, int block = 100) {
  const Batch b = MakeRandomBatch(kHeader, n, first_user + 17, first_user);
  auto w = ShardWriter::Open(path, kHeader, block);
  CHECK(w.ok()) << w.status().ToString();
  CHECK((*w)->Append(b).ok());
  CHECK((*w)->Close().ok());
  return b;
}

DataReader::Options Opts(bool shuffle, int threads = 2, int batch = 64) {
  DataReader::Options o;
  o.batch_size = batch;
  o.threads = threads;
  o.prefetch_batches = 3;
  o.shuffle = shuffle;
  o.shuffle_buffer = 300;
  o.seed = 7;
  return o;
}

std::unique_ptr<DataReader> OpenOrDie(const std::vector<std::string>& paths,
                                      const DataReader::Options& o) {
  auto r = DataReader::Open(paths, o);
  CHECK(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

// All samples of one epoch, concatenated; checks that only the last batch is short.
Batch ReadEpoch(DataReader* r, int epoch, int batch_size) {
  CHECK(r->StartEpoch(epoch).ok());
  Batch all, b;
  bool short_seen = false;
  while (true) {
    StatusOr<bool> more = r->Next(&b);
    CHECK(more.ok()) << more.status().ToString();
    if (!*more) break;
    EXPECT_FALSE(short_seen) << "a short batch before the end of the epoch";
    EXPECT_GE(b.size, 1);
    EXPECT_LE(b.size, batch_size);
    short_seen = b.size < batch_size;
    EXPECT_TRUE(b.Validate(4).ok());
    all.AppendFrom(b, 0, b.size);
  }
  StatusOr<bool> again = r->Next(&b);
  EXPECT_TRUE(again.ok() && !*again) << "Next after the end must keep returning false";
  return all;
}

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Uneven files: 250, 1000 (blocks of 100) and 37 samples; users 0 .. 1286.
    Batch a = WriteShard(dir_.file("a.mrs"), 250, 0);
    Batch b = WriteShard(dir_.file("b.mrs"), 1000, 250);
    Batch c = WriteShard(dir_.file("c.mrs"), 37, 1250);
    all_.AppendFrom(a, 0, a.size);
    all_.AppendFrom(b, 0, b.size);
    all_.AppendFrom(c, 0, c.size);
    paths_ = {dir_.file("a.mrs"), dir_.file("b.mrs"), dir_.file("c.mrs")};
  }
  TempDir dir_;
  Batch all_;
  std::vector<std::string> paths_;
};

TEST_F(ReaderTest, WithoutShuffleDeliversFileOrder) {
  auto r = OpenOrDie(paths_, Opts(false));
  EXPECT_EQ(r->num_samples(), 1287);
  EXPECT_EQ(r->num_blocks(), 3 + 10 + 1);
  for (int epoch : {0, 1}) ExpectBatchEq(ReadEpoch(r.get(), epoch, 64), all_);
}

TEST_F(ReaderTest, ShuffleDeliversAPermutationThatDependsOnTheEpoch) {
  for (int buffer : {0, 300}) {
    DataReader::Options o = Opts(true);
    o.shuffle_buffer = buffer;
    auto r = OpenOrDie(paths_, o);
    const Batch e0 = ReadEpoch(r.get(), 0, 64);
    const Batch e1 = ReadEpoch(r.get(), 1, 64);
    std::vector<uint64_t> sorted = e0.user;
    std::sort(sorted.begin(), sorted.end());
    std::vector<uint64_t> expected(1287);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(sorted, expected) << "buffer " << buffer;
    EXPECT_NE(e0.user, all_.user) << "buffer " << buffer;
    EXPECT_NE(e0.user, e1.user) << "buffer " << buffer;
    // Each sample keeps its columns: sort by user and compare with the file contents.
    for (int64_t k = 0; k < e0.size; ++k) {
      const uint64_t u = e0.user[k];
      ASSERT_EQ(e0.domain[k], all_.domain[u]);
      ASSERT_EQ(e0.labels[2 * k + 1], all_.labels[2 * u + 1]);
      ASSERT_EQ(e0.truth[2 * k], all_.truth[2 * u]);
      for (int s = 0; s < 3; ++s) {
        ASSERT_EQ(e0.offsets[s][k + 1] - e0.offsets[s][k],
                  all_.offsets[s][u + 1] - all_.offsets[s][u]);
        if (e0.offsets[s][k + 1] > e0.offsets[s][k]) {
          ASSERT_EQ(e0.ids[s][e0.offsets[s][k]], all_.ids[s][all_.offsets[s][u]]);
        }
      }
    }
    if (buffer > 0) {
      // The sample shuffle mixes within blocks: consecutive users are rarely consecutive.
      int64_t runs = 0;
      for (int64_t k = 1; k < e0.size; ++k) runs += e0.user[k] == e0.user[k - 1] + 1;
      EXPECT_LT(runs, e0.size / 20);
    }
  }
}

TEST_F(ReaderTest, OrderDoesNotDependOnThreadsOrPrefetch) {
  DataReader::Options one = Opts(true, /*threads=*/1);
  one.prefetch_batches = 1;
  DataReader::Options three = Opts(true, /*threads=*/3);
  three.prefetch_batches = 8;
  auto r1 = OpenOrDie(paths_, one);
  auto r3 = OpenOrDie(paths_, three);
  for (int epoch : {0, 3}) {
    ExpectBatchEq(ReadEpoch(r1.get(), epoch, 64), ReadEpoch(r3.get(), epoch, 64));
  }
  // A different seed gives a different order.
  three.seed = 8;
  auto r8 = OpenOrDie(paths_, three);
  EXPECT_NE(ReadEpoch(r8.get(), 0, 64).user, ReadEpoch(r1.get(), 0, 64).user);
}

TEST_F(ReaderTest, WorkerSharesAreDisjointCoveringAndBalanced) {
  for (int workers : {1, 2, 3, 5}) {
    std::vector<uint64_t> seen;
    for (int w = 0; w < workers; ++w) {
      DataReader::Options o = Opts(w % 2 == 1);
      o.num_workers = workers;
      o.worker_index = w;
      auto r = OpenOrDie(paths_, o);
      const Batch got = ReadEpoch(r.get(), 0, 64);
      EXPECT_EQ(got.size, r->num_samples());
      // Within one block (100 samples) of an equal split.
      EXPECT_LE(std::abs(static_cast<double>(got.size) - 1287.0 / workers), 100.0)
          << workers << " workers, worker " << w;
      seen.insert(seen.end(), got.user.begin(), got.user.end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<uint64_t> expected(1287);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(seen, expected) << workers << " workers";
  }
}

TEST_F(ReaderTest, EmptyShareGivesEmptyEpochs) {
  DataReader::Options o = Opts(false);
  o.num_workers = 40;  // more workers than the 14 blocks
  int64_t total = 0;
  int empty = 0;
  for (int w = 0; w < 40; ++w) {
    o.worker_index = w;
    auto r = OpenOrDie(paths_, o);
    const Batch got = ReadEpoch(r.get(), 0, 64);
    total += got.size;
    empty += got.size == 0;
  }
  EXPECT_EQ(total, 1287);
  EXPECT_GE(empty, 26);
}

TEST_F(ReaderTest, RestartMidEpoch) {
  auto r = OpenOrDie(paths_, Opts(true));
  const Batch e0 = ReadEpoch(r.get(), 0, 64);
  const Batch e2 = ReadEpoch(r.get(), 2, 64);
  Batch b;
  for (int restart_epoch : {0, 2}) {
    ASSERT_TRUE(r->StartEpoch(1).ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(r->Next(&b).value());
    ExpectBatchEq(ReadEpoch(r.get(), restart_epoch, 64), restart_epoch == 0 ? e0 : e2);
  }
  // Restarting right away, before anything was read, works too.
  ASSERT_TRUE(r->StartEpoch(0).ok());
  ExpectBatchEq(ReadEpoch(r.get(), 0, 64), e0);
}

TEST_F(ReaderTest, CorruptBlockSurfacesAtItsPlace) {
  // Damage the first block of b.mrs: a byte inside its compressed payload.
  const std::string path = dir_.file("b.mrs");
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char len[4];
  f.seekg(8);
  f.read(len, 4);
  uint32_t header_len;
  std::memcpy(&header_len, len, 4);
  const std::streamoff at = 16 + header_len + 16 + 7;
  f.seekg(at);
  char c;
  f.get(c);
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x40));
  f.close();

  for (int threads : {1, 3}) {
    auto r = OpenOrDie(paths_, Opts(false, threads));
    ASSERT_TRUE(r->StartEpoch(0).ok());
    Batch b;
    std::vector<uint64_t> users;
    Status error;
    while (true) {
      StatusOr<bool> more = r->Next(&b);
      if (!more.ok()) {
        error = more.status();
        break;
      }
      ASSERT_TRUE(*more) << "epoch ended without reporting the damaged block";
      users.insert(users.end(), b.user.begin(), b.user.end());
    }
    EXPECT_EQ(error.code(), StatusCode::kCorruption);
    EXPECT_NE(error.message().find("b.mrs"), std::string::npos) << error.ToString();
    EXPECT_NE(error.message().find("block 0"), std::string::npos) << error.ToString();
    // Every sample before the damaged block (all of a.mrs), in order, and nothing after it.
    std::vector<uint64_t> expected(250);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(users, expected);
    EXPECT_EQ(r->Next(&b).status().code(), StatusCode::kCorruption);  // stays failed
    // A new epoch starts afresh (and fails at the same place).
    ASSERT_TRUE(r->StartEpoch(1).ok());
    ASSERT_TRUE(r->Next(&b).value());
  }
}

TEST_F(ReaderTest, DirectoriesExpandToSortedShards) {
  std::ofstream(dir_.file("notes.txt")) << "not a shard";
  std::ofstream(dir_.file("d.mrs.tmp")) << "an unfinished shard";
  auto from_dir = OpenOrDie({dir_.path()}, Opts(false));
  EXPECT_EQ(from_dir->files(), paths_);
  ExpectBatchEq(ReadEpoch(from_dir.get(), 0, 64), all_);

  TempDir empty;
  EXPECT_EQ(DataReader::Open({empty.path()}, Opts(false)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(DataReader::Open({dir_.file("missing.mrs")}, Opts(false)).status().code(),
            StatusCode::kNotFound);
}

TEST_F(ReaderTest, RejectsBadOptionsAndMismatchedFiles) {
  DataReader::Options o = Opts(false);
  o.batch_size = 0;
  Status s = DataReader::Open(paths_, o).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("batch_size"), std::string::npos);
  o = Opts(false);
  o.worker_index = 2;
  o.num_workers = 2;
  EXPECT_NE(DataReader::Open(paths_, o).status().message().find("worker_index"), std::string::npos);
  EXPECT_FALSE(DataReader::Open({}, Opts(false)).ok());

  const ShardHeader other = MakeHeader(3, 3, 1, true, 4);
  auto w = ShardWriter::Open(dir_.file("z.mrs"), other);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(MakeRandomBatch(other, 5, 1)).ok());
  ASSERT_TRUE((*w)->Close().ok());
  s = DataReader::Open({dir_.path()}, Opts(false)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("num_tasks"), std::string::npos) << s.ToString();

  auto r = OpenOrDie(paths_, Opts(false));
  Batch b;
  EXPECT_EQ(r->Next(&b).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ReaderTest, OptionsFromConfig) {
  ReaderConfig c;
  c.set_batch_size(32);
  c.set_threads(3);
  const DataReader::Options o = DataReader::OptionsFromConfig(c, true, 9, 1, 4);
  EXPECT_EQ(o.batch_size, 32);
  EXPECT_EQ(o.threads, 3);
  EXPECT_EQ(o.prefetch_batches, 4);
  EXPECT_EQ(o.shuffle_buffer, 65536);
  EXPECT_TRUE(o.shuffle);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_EQ(o.worker_index, 1);
  EXPECT_EQ(o.num_workers, 4);
}

TEST(ShuffleBufferTest, PermutesAndStaysBounded) {
  ShuffleBuffer buffer(/*capacity=*/50);
  Rng rng(3);
  std::vector<uint64_t> out_users;
  uint64_t next_user = 0;
  int64_t max_resident = 0;
  Batch out;
  for (int round = 0; round < 400; ++round) {
    while (buffer.wants_more()) {
      auto block = std::make_unique<Batch>(MakeRandomBatch(kHeader, 20, round, next_user));
      next_user += 20;
      buffer.Add(std::move(block));
    }
    for (int k = 0; k < 20; ++k) buffer.TakeRandom(&rng, &out);
    max_resident = std::max(max_resident, buffer.resident_samples());
    while (buffer.PopFreeBlock() != nullptr) {
    }
  }
  while (buffer.size() > 0) buffer.TakeRandom(&rng, &out);
  std::vector<uint64_t> sorted = out.user;
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint64_t> expected(next_user);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);
  EXPECT_LE(max_resident, 2 * (50 + 20) + 20);
  EXPECT_EQ(buffer.resident_samples(), 0);
  ASSERT_TRUE(out.Validate(4).ok());
}

}  // namespace
}  // namespace moerec
