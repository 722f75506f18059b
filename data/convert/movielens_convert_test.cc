// Conversions of MovieLens 100K / 1M layouts written by the test: domain and task rules of the
// published protocols, splits, and broken side files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/convert/convert.h"
#include "data/convert/internal/movielens_fixture.h"
#include "data/convert/internal/split.h"
#include "data/convert/internal/text.h"
#include "data/test_util.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::testing::FixtureAge100K;
using convert::testing::FixtureAgeCode1M;
using convert::testing::FixtureGender;
using convert::testing::FixtureGenres;
using convert::testing::FixtureOccupation;
using convert::testing::FixtureRating;
using convert::testing::FixtureYear;
using convert::testing::kMovies100K;
using convert::testing::kMovies1M;
using convert::testing::kUsers100K;
using convert::testing::kUsers1M;
using convert::testing::ReadSplit;
using convert::testing::SlotIds;
using convert::testing::Users1M;
using convert::testing::WriteMovieLens100K;
using convert::testing::WriteMovieLens1M;
using convert::testing::WriteText;

class MovieLensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteMovieLens1M(dir_.file("ml-1m"));
    WriteMovieLens100K(dir_.file("ml-100k"));
  }
  StatusOr<ConvertSummary> Run(const std::string& body, const std::string& out = "out") {
    auto config = ParseConvertConfig(body + "\noutput_dir: \"" + out + "\"\n", "t", dir_.path());
    if (!config.ok()) return config.status();
    return RunConvert(*config);
  }
  Batch Read(const std::string& split, const std::string& out = "out") {
    return ReadSplit(dir_.file(out + "/" + split));
  }

  moerec::testing::TempDir dir_;
};

// Features in enum order: user_id, item_id, gender, age, occupation, zip, genres, year.
enum Slot { kUser, kItem, kGender, kAge, kOccupation, kZip, kGenres, kYear };

constexpr char kM3oE[] = R"(
movielens {
  layout: ML_1M dir: "ml-1m"
  domain { field: AGE groups { name: "young" values: ["1", "18"] }
                      groups { name: "mid" values: "25" }
                      groups { name: "old" values: ["35", "45", "50", "56"] } }
  tasks { name: "click" op: GT threshold: 3 }
  tasks { name: "like" op: GT threshold: 4 }
}
split { train: 0.8 validation: 0.1 test: 0.1 seed: 11 })";

int YoungMidOld(int age_code) { return age_code <= 18 ? 0 : age_code == 25 ? 1 : 2; }

TEST_F(MovieLensTest, OneMillionM3oEProtocol) {
  auto summary = Run(kM3oE);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names, (std::vector<std::string>{"young", "mid", "old"}));
  EXPECT_EQ(summary->rows_read, kUsers1M * kMovies1M);
  std::set<std::pair<uint64_t, uint64_t>> seen;
  int64_t n[3] = {0, 0, 0};
  for (int split = 0; split < 3; ++split) {
    const Batch b = Read(convert::kSplitNames[split]);
    n[split] = b.size;
    ASSERT_EQ(b.num_slots, 8);
    for (int64_t i = 0; i < b.size; ++i) {
      const uint64_t u = b.user[i];
      const uint64_t m = SlotIds(b, kItem, i).at(0);
      EXPECT_TRUE(seen.emplace(u, m).second) << "rating (" << u << ", " << m << ") twice";
      const int rating = FixtureRating(u, m);
      EXPECT_EQ(b.domain[i], YoungMidOld(FixtureAgeCode1M(u)));
      EXPECT_EQ(b.labels[2 * i], rating > 3 ? 1.0f : 0.0f);
      EXPECT_EQ(b.labels[2 * i + 1], rating > 4 ? 1.0f : 0.0f);
      EXPECT_EQ(SlotIds(b, kUser, i), (std::vector<uint64_t>{u}));
      EXPECT_EQ(SlotIds(b, kGender, i)[0], FixtureGender(u) == 'M' ? 1u : 0u);
      EXPECT_EQ(SlotIds(b, kAge, i)[0], uint64_t(FixtureAgeCode1M(u)));
      EXPECT_EQ(SlotIds(b, kOccupation, i)[0], uint64_t(FixtureOccupation(u)));
      EXPECT_EQ(SlotIds(b, kZip, i)[0],
                convert::HashString(std::to_string(48000 + u).substr(0, 3)));
      EXPECT_EQ(SlotIds(b, kGenres, i), FixtureGenres(m));
      EXPECT_EQ(SlotIds(b, kYear, i), (std::vector<uint64_t>{uint64_t(FixtureYear(m))}));
    }
  }
  EXPECT_EQ(seen.size(), size_t(kUsers1M * kMovies1M));
  // 2000 rows: binomial sigma 18 (train) and 13 (validation, test); allow 5 sigma.
  EXPECT_NEAR(n[0], 1600, 90);
  EXPECT_NEAR(n[1], 200, 67);
  EXPECT_NEAR(n[2], 200, 67);
  EXPECT_EQ(summary->split_samples(0), n[0]);
  // Positive rates in the summary match the labels: like is rating 5, one fifth of a uniform hash.
  int64_t observed = 0, positives = 0;
  for (int d = 0; d < 3; ++d) observed += summary->observed[0][d * 2 + 1];
  for (int d = 0; d < 3; ++d) positives += summary->positives[0][d * 2 + 1];
  EXPECT_EQ(observed, n[0]);
  EXPECT_NEAR(static_cast<double>(positives) / observed, 0.2, 0.05);
  const std::string text = FormatConvertSummary(*summary);
  EXPECT_NE(text.find("young"), std::string::npos) << text;
  EXPECT_NE(text.find("like+"), std::string::npos) << text;
}

TEST_F(MovieLensTest, SplitIsDeterministicForASeed) {
  ASSERT_TRUE(Run(kM3oE, "a").ok());
  ASSERT_TRUE(Run(kM3oE, "b").ok());
  std::string other = kM3oE;
  other.replace(other.find("seed: 11"), 8, "seed: 12");
  ASSERT_TRUE(Run(other, "c").ok());
  const Batch a = Read("test", "a");
  moerec::testing::ExpectBatchEq(a, Read("test", "b"));
  EXPECT_NE(a.user, Read("test", "c").user);
}

TEST_F(MovieLensTest, MoeMloraProtocolStratifiesEveryDomain) {
  auto summary = Run(R"(
movielens { layout: ML_1M dir: "ml-1m" domain { field: GENDER } tasks { name: "five" op: EQ threshold: 5 }
            features: [USER_ID, ITEM_ID, GENRES] }
split { method: EXACT_RANDOM per_domain: true train: 0.6 validation: 0.2 test: 0.2 })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names, (std::vector<std::string>{"F", "M"}));
  // 20 users of each gender rate 50 movies: exactly 600 / 200 / 200 per domain.
  for (int split = 0; split < 3; ++split) {
    const int64_t want = split == 0 ? 600 : 200;
    EXPECT_EQ(summary->samples[split], (std::vector<int64_t>{want, want}));
    const Batch b = Read(convert::kSplitNames[split]);
    int64_t per_domain[2] = {0, 0};
    for (int64_t i = 0; i < b.size; ++i) {
      ++per_domain[b.domain[i]];
      EXPECT_EQ(b.domain[i], FixtureGender(b.user[i]) == 'M' ? 1 : 0);
      EXPECT_EQ(b.labels[i], FixtureRating(b.user[i], SlotIds(b, 1, i)[0]) == 5 ? 1.0f : 0.0f);
    }
    EXPECT_EQ(per_domain[0], want);
    EXPECT_EQ(per_domain[1], want);
  }
  EXPECT_EQ(summary->data_config.slots_size(), 3);
  EXPECT_EQ(summary->data_config.slots(2).name(), "genres");
  EXPECT_EQ(summary->data_config.slots(2).side(), SIDE_ITEM);
}

TEST_F(MovieLensTest, WriteItemsAddsTheMovieCorpusWithItsItemFeaturesOnly) {
  auto summary = Run(R"(
movielens { layout: ML_1M dir: "ml-1m" domain { field: GENDER } tasks { name: "rated" op: GE threshold: 1 }
            write_items: true }
split { train: 0.8 validation: 0.1 test: 0.1 })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  ASSERT_EQ(summary->data_config.items_size(), 1);
  EXPECT_EQ(summary->data_config.items(0), dir_.file("out/items"));
  const Batch b = Read("items");
  ASSERT_EQ(b.size, kMovies1M);
  for (int64_t i = 0; i < b.size; ++i) {
    const uint64_t m = static_cast<uint64_t>(i + 1);  // the movies in id order
    EXPECT_EQ(SlotIds(b, kItem, i), (std::vector<uint64_t>{m}));
    EXPECT_EQ(SlotIds(b, kGenres, i), FixtureGenres(m));
    EXPECT_EQ(SlotIds(b, kYear, i), (std::vector<uint64_t>{uint64_t(FixtureYear(m))}));
    for (const int user_side : {kUser, kGender, kAge, kOccupation, kZip}) {
      EXPECT_TRUE(SlotIds(b, user_side, i).empty()) << i;
    }
    EXPECT_EQ(b.label_mask[i], 0);
  }
  // Without ITEM_ID there is no key to rank the corpus by.
  auto refused = Run(R"(
movielens { dir: "ml-1m" tasks { name: "t" op: GE threshold: 4 } features: [USER_ID, GENRES] write_items: true })",
                     "out3");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("movielens.write_items"), std::string::npos);
}

TEST_F(MovieLensTest, DefaultDomainsByOccupationAndAge) {
  auto occupation = Run(
      R"(movielens { dir: "ml-1m" domain { field: OCCUPATION } tasks { name: "t" op: GE threshold: 4 } }
split { train: 1 validation: 0 test: 0 })");
  ASSERT_TRUE(occupation.ok()) << occupation.status().ToString();
  EXPECT_EQ(occupation->domain_names.size(), 21u);
  EXPECT_EQ(occupation->domain_names[1], "academic_educator");
  const Batch b = Read("train");
  for (int64_t i = 0; i < b.size; ++i) EXPECT_EQ(b.domain[i], FixtureOccupation(b.user[i]));

  auto age = Run(
      R"(movielens { dir: "ml-1m" domain { field: AGE } tasks { name: "t" op: GE threshold: 4 } })",
      "out2");
  ASSERT_TRUE(age.ok()) << age.status().ToString();
  EXPECT_EQ(age->domain_names, (std::vector<std::string>{"age_1", "age_18", "age_25", "age_35",
                                                         "age_45", "age_50", "age_56"}));
}

TEST_F(MovieLensTest, OneHundredK) {
  auto summary = Run(R"(
movielens { layout: ML_100K dir: "ml-100k" domain { field: OCCUPATION } tasks { name: "good" op: GE threshold: 4 } }
split { train: 1 validation: 0 test: 0 })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->domain_names, convert::Occupations100K());
  const Batch b = Read("train");
  ASSERT_EQ(b.size, kUsers100K * kMovies100K);
  for (int64_t i = 0; i < b.size; ++i) {
    const uint64_t u = b.user[i];
    const uint64_t m = SlotIds(b, kItem, i)[0];
    ASSERT_EQ(i, int64_t((u - 1) * kMovies100K + (m - 1))) << "rows keep the file order";
    EXPECT_EQ(b.domain[i], FixtureOccupation(u));
    EXPECT_EQ(b.labels[i], FixtureRating(u, m) >= 4 ? 1.0f : 0.0f);
    EXPECT_EQ(SlotIds(b, kAge, i)[0], uint64_t(convert::AgeCode(FixtureAge100K(u))));
    EXPECT_EQ(SlotIds(b, kGenres, i), FixtureGenres(m));
    EXPECT_EQ(SlotIds(b, kYear, i),
              m == 5 ? std::vector<uint64_t>{} : std::vector<uint64_t>{uint64_t(FixtureYear(m))});
  }
  // Raw 100K ages fall into the 1M buckets: 12 -> 1, 18 -> 18, 24 -> 18, 25 -> 25, 56 -> 56.
  EXPECT_EQ(convert::AgeCode(12), 1);
  EXPECT_EQ(convert::AgeCode(24), 18);
  EXPECT_EQ(convert::AgeCode(25), 25);
  EXPECT_EQ(convert::AgeCode(70), 56);
}

TEST_F(MovieLensTest, TruncatedUsersFileNamesTheLine) {
  std::string users = Users1M();
  users.resize(users.rfind("\n40::") + 6);  // the last user (40) is cut after its gender
  WriteText(dir_.file("ml-1m/users.dat"), users);
  auto stop = Run(kM3oE);
  ASSERT_FALSE(stop.ok());
  EXPECT_EQ(
      stop.status().message(),
      dir_.file("ml-1m/users.dat") + ":40: fields: expected 5 fields separated by '::', found 2");
  EXPECT_FALSE(fs::exists(dir_.file("out")));

  // With a budget the user is skipped and its ratings are dropped, not counted as bad.
  auto skip = Run(std::string(kM3oE) + "\nbad_row_budget: 1");
  ASSERT_TRUE(skip.ok()) << skip.status().ToString();
  EXPECT_EQ(skip->bad_rows, 1);
  EXPECT_EQ(skip->rows_dropped, kMovies1M);
  EXPECT_EQ(skip->total_samples(), (kUsers1M - 1) * kMovies1M);
}

TEST_F(MovieLensTest, IllFormedRowsNameTheField) {
  struct Case {
    std::string file, from, to, message;
  } cases[] = {
      {"users.dat", "\n8::F::18::", "\n8::F::17::", "users.dat:8: Age: '17' is not an age code"},
      {"users.dat", "\n8::F::18::", "\n8::X::18::", "users.dat:8: Gender: 'X' is not F or M"},
      {"movies.dat", "|Drama\n", "|Dramedy\n",
       "movies.dat:2: Genres: 'Dramedy' is not a MovieLens"},
      {"ratings.dat", "\n1::2::", "\n1::2::x", "ratings.dat:2: Rating: 'x"},
      {"ratings.dat",
       "\n1::2::", "\n99::2::", "ratings.dat:2: UserID: user 99 is not in users.dat"},
  };
  for (const Case& c : cases) {
    WriteMovieLens1M(dir_.file("ml-1m"));
    const std::string path = dir_.file("ml-1m/" + c.file);
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    WriteText(path, text.replace(at, c.from.size(), c.to));
    auto r = Run(kM3oE);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_TRUE(r.status().message().starts_with(dir_.file("ml-1m/" + c.message)))
        << r.status().message();
  }
}

TEST_F(MovieLensTest, DropUnmatchedKeepsOnlyGroupedUsers) {
  auto summary = Run(R"(movielens { dir: "ml-1m" tasks { name: "t" op: GE threshold: 4 }
  domain { field: AGE drop_unmatched: true groups { name: "mid" values: "25" } } })");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  int users_25 = 0;
  for (int u = 1; u <= kUsers1M; ++u) users_25 += FixtureAgeCode1M(u) == 25;
  EXPECT_EQ(summary->total_samples(), users_25 * kMovies1M);
  EXPECT_EQ(summary->rows_dropped, (kUsers1M - users_25) * kMovies1M);
  EXPECT_EQ(summary->bad_rows, 0);
}

TEST_F(MovieLensTest, MissingFileIsNotFound) {
  fs::remove(dir_.file("ml-1m/movies.dat"));
  auto r = Run(kM3oE);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("movies.dat"), std::string::npos);
}

}  // namespace
}  // namespace moerec
