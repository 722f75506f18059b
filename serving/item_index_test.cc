#include "serving/item_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/temp_dir.h"

namespace moerec {
namespace {

using testing::TempDir;

constexpr uint64_t kPadding = std::numeric_limits<uint64_t>::max();

// Item ids far from positions, so that a result still in faiss's numbering shows.
uint64_t ItemId(int64_t i) { return Mix64(static_cast<uint64_t>(i) + 1000); }

EmbeddingMatrix GaussianItems(int64_t n, int64_t d, uint64_t seed) {
  Rng rng(seed);
  EmbeddingMatrix m;
  m.kind = EmbeddingMatrix::kItem;
  m.dim = d;
  for (int64_t i = 0; i < n; ++i) {
    m.ids.push_back(ItemId(i));
    m.scenario.push_back(-1);
  }
  for (int64_t i = 0; i < n * d; ++i) m.values.push_back(static_cast<float>(rng.Normal()));
  return m;
}

std::vector<float> GaussianQueries(int64_t q, int64_t d, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(q * d);
  for (float& v : x) v = static_cast<float>(rng.Normal());
  return x;
}

// Items and queries around `clusters` random unit directions: an item is its direction plus
// noise of norm about `spread`; a query is a direction plus a little more noise. The exact top
// items of a query are then the items of a few clusters, which IVF cells capture.
struct ClusteredData {
  EmbeddingMatrix items;
  std::vector<float> queries;  // (Q, d)
};
ClusteredData Clustered(int64_t n, int64_t q, int64_t d, int clusters, double spread,
                        uint64_t seed) {
  Rng rng(seed);
  std::vector<double> centers(clusters * d);
  for (int c = 0; c < clusters; ++c) {
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) {
      centers[c * d + j] = rng.Normal();
      norm += centers[c * d + j] * centers[c * d + j];
    }
    for (int64_t j = 0; j < d; ++j) centers[c * d + j] /= std::sqrt(norm);
  }
  const double noise = spread / std::sqrt(static_cast<double>(d));
  ClusteredData data;
  data.items.kind = EmbeddingMatrix::kItem;
  data.items.dim = d;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = static_cast<int64_t>(rng.Below(clusters));
    data.items.ids.push_back(ItemId(i));
    data.items.scenario.push_back(-1);
    for (int64_t j = 0; j < d; ++j) {
      data.items.values.push_back(static_cast<float>(centers[c * d + j] + noise * rng.Normal()));
    }
  }
  for (int64_t i = 0; i < q; ++i) {
    const int64_t c = static_cast<int64_t>(rng.Below(clusters));
    for (int64_t j = 0; j < d; ++j) {
      data.queries.push_back(static_cast<float>(centers[c * d + j] + 1.5 * noise * rng.Normal()));
    }
  }
  return data;
}

// The exact top-k in double precision: (Q, k) item positions and their scores.
struct Exact {
  std::vector<int64_t> positions;
  std::vector<double> scores;
};
double Dot(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t j = 0; j < d; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}
Exact ExactTopK(const EmbeddingMatrix& items, const std::vector<float>& queries, int64_t k) {
  const int64_t d = items.dim;
  const int64_t n = items.rows();
  const int64_t q = static_cast<int64_t>(queries.size()) / d;
  Exact e;
  std::vector<double> s(n);
  std::vector<int64_t> order(n);
  for (int64_t u = 0; u < q; ++u) {
    for (int64_t i = 0; i < n; ++i) s[i] = Dot(&queries[u * d], &items.values[i * d], d);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return s[a] != s[b] ? s[a] > s[b] : a < b; });
    for (int64_t r = 0; r < k; ++r) {
      e.positions.push_back(order[r]);
      e.scores.push_back(s[order[r]]);
    }
  }
  return e;
}

double RecallAtK(const std::vector<uint64_t>& ids, const Exact& exact, const EmbeddingMatrix& items,
                 int64_t q, int64_t k) {
  int64_t hits = 0;
  for (int64_t u = 0; u < q; ++u) {
    std::set<uint64_t> truth;
    for (int64_t r = 0; r < k; ++r) truth.insert(items.ids[exact.positions[u * k + r]]);
    for (int64_t r = 0; r < k; ++r) hits += truth.count(ids[u * k + r]);
  }
  return static_cast<double>(hits) / static_cast<double>(q * k);
}

TEST(ItemIndexTest, FlatTopKIsTheExactTopK) {
  const int64_t n = 2000, d = 32, q = 50, k = 20;
  const EmbeddingMatrix items = GaussianItems(n, d, 1);
  const std::vector<float> queries = GaussianQueries(q, d, 2);
  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(items, {});
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->size(), n);
  EXPECT_EQ((*index)->dim(), d);
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  ASSERT_TRUE((*index)->Search(queries.data(), q, k, &ids, &scores).ok());
  ASSERT_EQ(ids.size(), static_cast<size_t>(q * k));
  ASSERT_EQ(scores.size(), static_cast<size_t>(q * k));

  const Exact exact = ExactTopK(items, queries, k);
  std::vector<int64_t> position_of_rank(q * k);
  int64_t same = 0, ties = 0;
  for (int64_t u = 0; u < q; ++u) {
    for (int64_t r = 0; r < k; ++r) {
      const int64_t at = u * k + r;
      const auto it = std::find(items.ids.begin(), items.ids.end(), ids[at]);
      ASSERT_NE(it, items.ids.end()) << "query " << u << " rank " << r << ": id not an item";
      const int64_t position = it - items.ids.begin();
      const double score = Dot(&queries[u * d], &items.values[position * d], d);
      // Float scores agree with the double dot product to float rounding.
      EXPECT_NEAR(scores[at], score, 1e-4 * (1 + std::abs(score)));
      if (r > 0) {
        EXPECT_GE(scores[at - 1], scores[at]);
      }
      if (position == exact.positions[at]) {
        ++same;
      } else {
        // Only a tie within float rounding may swap two items.
        EXPECT_NEAR(score, exact.scores[at], 1e-4 * (1 + std::abs(score)))
            << "query " << u << " rank " << r;
        ++ties;
      }
    }
  }
  std::printf("flat vs exact: %lld of %lld ranks identical, %lld swapped ties\n",
              static_cast<long long>(same), static_cast<long long>(q * k),
              static_cast<long long>(ties));
  EXPECT_GE(same, q * k - 2);
}

TEST(ItemIndexTest, SaveAndLoadGiveTheSameResults) {
  TempDir dir;
  const ClusteredData data = Clustered(4000, 30, 16, 20, 0.5, 3);
  ItemIndexOptions ivf;
  ivf.kind = ItemIndexOptions::kIvfPq;
  ivf.nlist = 32;
  ivf.pq_m = 8;
  ivf.nprobe = 5;
  for (const ItemIndexOptions& o : {ItemIndexOptions{}, ivf}) {
    StatusOr<std::unique_ptr<ItemIndex>> built = ItemIndex::Build(data.items, o);
    ASSERT_TRUE(built.ok()) << built.status();
    const std::string path = dir / "items.index";
    ASSERT_TRUE((*built)->Save(path).ok());
    StatusOr<std::unique_ptr<ItemIndex>> loaded = ItemIndex::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->Describe(), (*built)->Describe());
    EXPECT_EQ((*loaded)->size(), 4000);
    EXPECT_EQ((*loaded)->dim(), 16);
    EXPECT_EQ((*loaded)->options().nprobe, (*built)->options().nprobe);
    for (int nprobe : {-1, 1, 32}) {
      std::vector<uint64_t> ids_a, ids_b;
      std::vector<float> scores_a, scores_b;
      ASSERT_TRUE((*built)->Search(data.queries.data(), 30, 10, &ids_a, &scores_a, nprobe).ok());
      ASSERT_TRUE((*loaded)->Search(data.queries.data(), 30, 10, &ids_b, &scores_b, nprobe).ok());
      EXPECT_EQ(ids_a, ids_b) << (*built)->Describe() << " nprobe " << nprobe;
      EXPECT_EQ(scores_a, scores_b);
    }
  }
}

TEST(ItemIndexTest, IvfPqRecallAgainstExact) {
  const int64_t n = 20000, d = 32, q = 200, k = 10;
  const ClusteredData data = Clustered(n, q, d, 1000, 0.3, 4);
  ItemIndexOptions o;
  o.kind = ItemIndexOptions::kIvfPq;
  o.nlist = 64;
  o.nprobe = o.nlist / 4;
  // Two dimensions per sub-quantizer: PQ's score error stays well below the score gaps around
  // rank 10 (d / 4 sub-quantizers reach about 0.7 on this data; 16 about 0.9, over seeds).
  o.pq_m = 16;
  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(data.items, o);
  ASSERT_TRUE(index.ok()) << index.status();
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  ASSERT_TRUE((*index)->Search(data.queries.data(), q, k, &ids, &scores).ok());
  const Exact exact = ExactTopK(data.items, data.queries, k);
  const double recall = RecallAtK(ids, exact, data.items, q, k);
  std::printf("%s: recall@10 %.4f (nprobe %d of %d lists)\n", (*index)->Describe().c_str(), recall,
              o.nprobe, o.nlist);
  ::testing::Test::RecordProperty("ivfpq_recall_at_10", std::to_string(recall));
  EXPECT_GE(recall, 0.8);
  // Scanning every list leaves only the PQ error; a single list loses more.
  std::vector<uint64_t> all_ids, one_ids;
  ASSERT_TRUE((*index)->Search(data.queries.data(), q, k, &all_ids, &scores, o.nlist).ok());
  ASSERT_TRUE((*index)->Search(data.queries.data(), q, k, &one_ids, &scores, 1).ok());
  const double recall_all = RecallAtK(all_ids, exact, data.items, q, k);
  const double recall_one = RecallAtK(one_ids, exact, data.items, q, k);
  std::printf("recall@10: nprobe 1 %.4f, nprobe %d %.4f\n", recall_one, o.nlist, recall_all);
  EXPECT_GE(recall_all, recall - 1e-9);
  EXPECT_LT(recall_one, recall_all);
}

TEST(ItemIndexTest, ResultsShortOfKArePadded) {
  const EmbeddingMatrix items = GaussianItems(5, 4, 5);
  const std::vector<float> queries = GaussianQueries(3, 4, 6);
  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(items, {});
  ASSERT_TRUE(index.ok());
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  ASSERT_TRUE((*index)->Search(queries.data(), 3, 8, &ids, &scores).ok());
  for (int u = 0; u < 3; ++u) {
    std::set<uint64_t> found(ids.begin() + u * 8, ids.begin() + u * 8 + 5);
    EXPECT_EQ(found, std::set<uint64_t>(items.ids.begin(), items.ids.end()));
    for (int r = 5; r < 8; ++r) {
      EXPECT_EQ(ids[u * 8 + r], kPadding);
      EXPECT_EQ(scores[u * 8 + r], -std::numeric_limits<float>::infinity());
    }
  }
  // No queries: empty results.
  ASSERT_TRUE((*index)->Search(nullptr, 0, 8, &ids, &scores).ok());
  EXPECT_TRUE(ids.empty());
}

TEST(ItemIndexTest, DefaultsResolveFromTheData) {
  struct Case {
    int64_t d;
    int pq_m;
  };
  for (const Case& c : {Case{64, 16}, Case{32, 8}, Case{30, 6}, Case{7, 1}, Case{2, 1}}) {
    ItemIndexOptions o;
    o.kind = ItemIndexOptions::kIvfPq;
    o.pq_bits = 4;
    StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(GaussianItems(400, c.d, 7), o);
    ASSERT_TRUE(index.ok()) << index.status();
    EXPECT_EQ((*index)->options().pq_m, c.pq_m) << "d " << c.d;
    EXPECT_EQ((*index)->options().nlist, 80);  // 4 sqrt(400)
  }
}

TEST(ItemIndexTest, BadOptionsAndInputsNameTheField) {
  const EmbeddingMatrix items = GaussianItems(300, 12, 8);
  struct Case {
    ItemIndexOptions o;
    const char* message;
  };
  ItemIndexOptions ivf;
  ivf.kind = ItemIndexOptions::kIvfPq;
  ivf.pq_bits = 6;
  std::vector<Case> cases;
  cases.push_back({ivf, "pq_m 5 does not divide the dim 12"});
  cases.back().o.pq_m = 5;
  cases.push_back({ivf, "nlist 301 is more than the 300 items"});
  cases.back().o.nlist = 301;
  cases.push_back({ivf, "nlist 60 is more than the 50 training rows (train_sample)"});
  cases.back().o.nlist = 60;
  cases.back().o.train_sample = 50;
  cases.push_back({ivf, "pq_bits 17 is not in [1, 16]"});
  cases.back().o.pq_bits = 17;
  cases.push_back({ivf, "pq_bits 9 needs at least 2^9 = 512 training rows"});
  cases.back().o.pq_bits = 9;
  cases.push_back({ivf, "nprobe 0 is not >= 1"});
  cases.back().o.nprobe = 0;
  cases.push_back({ivf, "train_sample -1 is negative"});
  cases.back().o.train_sample = -1;
  cases.push_back({ivf, "nlist -2 is negative"});
  cases.back().o.nlist = -2;
  for (const Case& c : cases) {
    StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(items, c.o);
    ASSERT_FALSE(index.ok()) << c.message;
    EXPECT_EQ(index.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(index.status().message().find(c.message), std::string::npos) << index.status();
  }
  EmbeddingMatrix bad = items;
  bad.values[13] = std::numeric_limits<float>::infinity();
  EXPECT_NE(ItemIndex::Build(bad, {}).status().message().find("item 1 column 1 is not finite"),
            std::string::npos);
  bad = items;
  bad.ids[2] = kPadding;
  EXPECT_NE(ItemIndex::Build(bad, {}).status().message().find("item 2 has id 2^64-1"),
            std::string::npos);
  EXPECT_FALSE(ItemIndex::Build(EmbeddingMatrix{}, {}).ok());

  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(items, {});
  ASSERT_TRUE(index.ok());
  std::vector<float> queries = GaussianQueries(2, 12, 9);
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  EXPECT_EQ((*index)->Search(queries.data(), 2, 0, &ids, &scores).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*index)->Search(queries.data(), 2, 5, &ids, &scores, 0).code(),
            StatusCode::kInvalidArgument);
  queries[20] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE((*index)
                ->Search(queries.data(), 2, 5, &ids, &scores)
                .message()
                .find("query 1 column 8 is not finite"),
            std::string::npos);
}

TEST(ItemIndexTest, TrainSampleIsUsedAndDeterministic) {
  const ClusteredData data = Clustered(3000, 20, 8, 10, 0.5, 10);
  ItemIndexOptions o;
  o.kind = ItemIndexOptions::kIvfPq;
  o.nlist = 16;
  o.pq_m = 4;
  o.train_sample = 1000;
  StatusOr<std::unique_ptr<ItemIndex>> a = ItemIndex::Build(data.items, o);
  StatusOr<std::unique_ptr<ItemIndex>> b = ItemIndex::Build(data.items, o);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<uint64_t> ids_a, ids_b;
  std::vector<float> scores_a, scores_b;
  ASSERT_TRUE((*a)->Search(data.queries.data(), 20, 10, &ids_a, &scores_a).ok());
  ASSERT_TRUE((*b)->Search(data.queries.data(), 20, 10, &ids_b, &scores_b).ok());
  EXPECT_EQ(ids_a, ids_b);
  EXPECT_EQ(scores_a, scores_b);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(ItemIndexTest, DamagedFilesAreRefusedNamingTheFile) {
  TempDir dir;
  const std::string path = dir / "items.index";
  ItemIndexOptions o;
  o.kind = ItemIndexOptions::kIvfPq;
  o.nlist = 8;
  o.pq_bits = 6;
  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(GaussianItems(500, 8, 11), o);
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_TRUE((*index)->Save(path).ok());
  const std::string good = ReadBytes(path);
  EXPECT_EQ(good.substr(0, 10), "MOEREC-IDX");

  auto expect_refused = [&](const std::string& bytes, const std::string& message) {
    WriteBytes(path, bytes);
    StatusOr<std::unique_ptr<ItemIndex>> loaded = ItemIndex::Load(path);
    ASSERT_FALSE(loaded.ok()) << message;
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << loaded.status();
    EXPECT_NE(loaded.status().message().find(path + ": "), std::string::npos) << loaded.status();
    EXPECT_NE(loaded.status().message().find(message), std::string::npos) << loaded.status();
  };
  // A byte in the ids, in the faiss index, in the checksum.
  for (size_t offset :
       {size_t{48 + 8 * 7 + 3}, good.size() / 2, good.size() - 30, good.size() - 1}) {
    std::string bad = good;
    bad[offset] ^= 0x04;
    expect_refused(bad, "checksum mismatch");
  }
  for (size_t size : {size_t{0}, size_t{40}, good.size() / 2, good.size() - 1}) {
    expect_refused(good.substr(0, size), size < 52 ? "truncated" : "checksum mismatch");
  }
  std::string bad = good;
  bad[1] = 'X';
  expect_refused(bad, "bad magic");

  StatusOr<std::unique_ptr<ItemIndex>> missing = ItemIndex::Load(dir / "absent.index");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace moerec
