// The ready-made configs in configs/: every *.pbtxt loads with its loader and validates (job
// configs: LoadJobConfig, the parameter-server and synthetic-data checks, and CreateModel on the
// shape the data section gives; *.convert.pbtxt: LoadConvertConfig), and keeps its data inside
// the repository's data/ folder. New configs are covered by the glob. Then the dataset configs
// run end to end on small files written here in the public layouts (the real data may not be
// redistributed): convert, check the samples against the protocol, check that the job config's
// data section is what the converter wrote, and train a few steps on the shards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "data/convert/convert.h"
#include "data/shard.h"
#include "data/synthetic/synthetic.h"
#include "embedding/table_spec.h"
#include "experts/model.h"
#include "proto/ps_config.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "worker/step_runner.h"
#include "worker/trainer.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

fs::path SourceDir() {
  const char* dir = std::getenv("MOEREC_SOURCE_DIR");  // set by moerec_test
  return dir != nullptr ? fs::path(dir) : fs::path(__FILE__).parent_path().parent_path();
}

fs::path ConfigPath(const std::string& name) { return SourceDir() / "configs" / name; }

bool IsConvertConfig(const fs::path& p) {
  return p.filename().string().ends_with(".convert.pbtxt");
}

// OK when `path` (resolved) lies inside <repo>/datasets/: shipped configs never depend on where a
// machine keeps its files, and data stays out of git.
Status InDataFolder(const std::string& path, const std::string& field) {
  const std::string data = (SourceDir() / "datasets").lexically_normal().string() + "/";
  if (fs::path(path).lexically_normal().string().starts_with(data)) return Status::OK();
  return InvalidArgument(field + ": " + path + " is not under " + data +
                         " (give it relative to the config, e.g. ../datasets/...)");
}

Status CheckJobConfig(const std::string& path) {
  ASSIGN_OR_RETURN(const JobConfig config, LoadJobConfig(path));
  RETURN_IF_ERROR(ValidatePsConfig(config, path));
  const DataConfig& data = config.data();
  for (const auto* list : {&data.train(), &data.validation(), &data.test()}) {
    for (const std::string& p : *list) RETURN_IF_ERROR(InDataFolder(p, "data path"));
  }
  if (data.has_synthetic()) {
    RETURN_IF_ERROR(ValidateSyntheticConfig(data));
    RETURN_IF_ERROR(SyntheticOutputsFromConfig(data).status());
  }
  return CreateModel(config.model(), ModelShapeFromConfig(config), config.train().seed()).status();
}

Status CheckConvertConfig(const std::string& path) {
  ASSIGN_OR_RETURN(const ConvertConfig config, LoadConvertConfig(path));
  RETURN_IF_ERROR(InDataFolder(config.output_dir(), "output_dir"));
  if (config.has_movielens()) RETURN_IF_ERROR(InDataFolder(config.movielens().dir(), "dir"));
  for (const std::string& f : config.csv().files()) RETURN_IF_ERROR(InDataFolder(f, "csv.files"));
  return Status::OK();
}

TEST(ConfigsTest, EveryConfigLoadsAndValidates) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(SourceDir() / "configs")) {
    if (e.path().extension() == ".pbtxt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  int jobs = 0, converts = 0;
  for (const fs::path& file : files) {
    const bool convert = IsConvertConfig(file);
    const Status s = convert ? CheckConvertConfig(file) : CheckJobConfig(file);
    EXPECT_TRUE(s.ok()) << file.string() << ": " << s.ToString();
    ++(convert ? converts : jobs);
  }
  EXPECT_TRUE(std::count(files.begin(), files.end(), ConfigPath("quickstart.pbtxt")) == 1);
  EXPECT_GE(jobs, 5);
  EXPECT_GE(converts, 4);
}

// The parts of a data section that must agree with the shards: everything but the paths.
Status SameSchema(const DataConfig& produced, const DataConfig& job, const std::string& name) {
  DataConfig a = produced, b = job;
  for (DataConfig* d : {&a, &b}) {
    d->clear_train();
    d->clear_validation();
    d->clear_test();
    d->clear_reader();
    d->clear_synthetic();
    for (SlotSpec& s : *d->mutable_slots()) {
      if (!s.has_table()) s.set_table(s.name());
      s.set_side(s.side());  // explicit defaults compare equal to implicit ones
      s.set_pooling(s.pooling());
    }
    d->set_num_dense(d->num_dense());
  }
  if (a.SerializeAsString() == b.SerializeAsString()) return Status::OK();
  return InvalidArgument(name + ": data section differs from the converter's data.pbtxt:\n" +
                         a.DebugString() + "--- vs the job config ---\n" + b.DebugString());
}

class DatasetConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("moerec_configs_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream out(dir_ / name, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good()) << name;
  }

  // Loads configs/<name>, points its input at `input` (a folder or file under dir_) and its
  // output at dir_/out, converts. *original gets the config as loaded.
  ConvertSummary Convert(const std::string& name, const std::string& input,
                         ConvertConfig* original) {
    StatusOr<ConvertConfig> config = LoadConvertConfig(ConfigPath(name));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return {};
    *original = *config;
    if (config->has_movielens()) config->mutable_movielens()->set_dir((dir_ / input).string());
    if (config->has_csv()) {
      config->mutable_csv()->clear_files();
      config->mutable_csv()->add_files((dir_ / input).string());
    }
    config->set_output_dir((dir_ / "out").string());
    StatusOr<ConvertSummary> summary = RunConvert(*config, name);
    EXPECT_TRUE(summary.ok()) << name << ": " << summary.status().ToString();
    return summary.ok() ? *summary : ConvertSummary{};
  }

  // Every sample of a split, in order.
  Batch ReadSplit(const std::string& split) {
    Batch all;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_ / "out" / split)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      StatusOr<std::unique_ptr<ShardReader>> reader = ShardReader::Open(f);
      EXPECT_TRUE(reader.ok()) << reader.status().ToString();
      if (!reader.ok()) break;
      Batch block;
      for (int b = 0; b < (*reader)->num_blocks(); ++b) {
        EXPECT_TRUE((*reader)->ReadBlock(b, &block).ok());
        all.AppendFrom(block, 0, block.size);
      }
    }
    return all;
  }

  // The job config `job` must read what `convert` writes: its paths point at the convert
  // config's output_dir, its data section is the converter's. Then it trains 3 steps on the
  // converted shards.
  void CheckJobOnOutput(const std::string& job, const ConvertConfig& convert,
                        const ConvertSummary& summary) {
    StatusOr<JobConfig> config = LoadJobConfig(ConfigPath(job));
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    DataConfig* data = config->mutable_data();
    EXPECT_EQ(data->train(0), convert.output_dir() + "/train") << job;
    EXPECT_EQ(data->validation(0), convert.output_dir() + "/validation") << job;
    EXPECT_EQ(data->test(0), convert.output_dir() + "/test") << job;
    const Status same = SameSchema(summary.data_config, *data, job);
    EXPECT_TRUE(same.ok()) << same.ToString();

    for (const char* split : {"train", "validation", "test"}) {
      auto* list = std::string(split) == "train"        ? data->mutable_train()
                   : std::string(split) == "validation" ? data->mutable_validation()
                                                        : data->mutable_test();
      list->Clear();
      list->Add((dir_ / "out" / split).string());
    }
    data->mutable_reader()->set_batch_size(64);
    data->mutable_reader()->set_threads(1);
    config->mutable_train()->set_threads(1);
    config->clear_checkpoint();
    ASSERT_TRUE(ValidateJobConfig(*config, job).ok());
    StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(TableSpecsFromConfig(*config));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SelfCommunicator self;
    Trainer::Options options;
    options.run_dir = (dir_ / "run").string();
    options.max_steps = 3;
    options.print_table = false;
    StatusOr<std::unique_ptr<Trainer>> trainer =
        Trainer::Create(*config, options, store->get(), &self);
    ASSERT_TRUE(trainer.ok()) << job << ": " << trainer.status().ToString();
    StatusOr<Report> report = (*trainer)->Run();
    ASSERT_TRUE(report.ok()) << job << ": " << report.status().ToString();
    EXPECT_EQ((*trainer)->step(), 3);
    EXPECT_EQ(report->num_domains, data->num_domains());
  }

  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------
// Criteo: label, I1..I13, C1..C26, tab-separated, no header.

TEST_F(DatasetConfigTest, CriteoConvertsAndTrains) {
  // Row r: I1 = r identifies it; I2 is missing on even rows and negative on rows divisible by
  // 3; C1 takes 4 hex values, C2 is missing on odd rows; the label is r % 2.
  constexpr int kRows = 600;
  auto c1 = [](int r) { return "0000abc" + std::to_string(r % 4); };
  std::string text;
  for (int r = 0; r < kRows; ++r) {
    text += std::to_string(r % 2) + "\t" + std::to_string(r) + "\t" +
            (r % 2 == 0 ? "" : std::to_string(r % 3 == 0 ? -2 : r * 10));
    for (int i = 3; i <= 13; ++i) text += "\t" + std::to_string(i);
    text += "\t" + c1(r) + "\t" + (r % 2 ? "" : "68fd1e64");
    for (int c = 3; c <= 26; ++c) text += "\t" + std::to_string(c * 1000 + r % 7);
    text += "\n";
  }
  text += "1\t2\t3\n";  // a short line: a bad row, within the config's budget
  Write("criteo/train.txt", text);
  ConvertConfig original;
  const ConvertSummary summary = Convert("criteo.convert.pbtxt", "criteo/train.txt", &original);
  ASSERT_EQ(summary.total_samples(), kRows);
  EXPECT_EQ(summary.bad_rows, 1);

  std::set<int> seen;
  std::map<int, uint64_t> c1_ids;  // r % 4 -> id
  for (const char* split : {"train", "validation", "test"}) {
    const Batch b = ReadSplit(split);
    ASSERT_EQ(b.num_dense, 13);
    ASSERT_EQ(b.num_slots, 26);
    for (int64_t i = 0; i < b.size; ++i) {
      const float* dense = &b.dense[i * 13];
      const int r = static_cast<int>(std::lround(std::expm1(dense[0])));
      ASSERT_TRUE(r >= 0 && r < kRows && seen.insert(r).second) << "row " << r;
      EXPECT_EQ(b.domain[i], 0);
      EXPECT_EQ(b.labels[i], static_cast<float>(r % 2));
      EXPECT_EQ(b.label_mask[i], 1);
      const float i2 = r % 2 == 0 ? 0.0f : r % 3 == 0 ? 0.0f : std::log1p(r * 10.0f);
      EXPECT_FLOAT_EQ(dense[1], i2) << "I2 of row " << r;
      EXPECT_FLOAT_EQ(dense[12], std::log1p(13.0f));
      ASSERT_EQ(b.offsets[0][i + 1] - b.offsets[0][i], 1u);
      const uint64_t id = b.ids[0][b.offsets[0][i]];
      EXPECT_EQ(c1_ids.emplace(r % 4, id).first->second, id) << "C1 of row " << r;
      EXPECT_EQ(b.offsets[1][i + 1] - b.offsets[1][i], r % 2 ? 0u : 1u) << "C2 of row " << r;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRows));
  std::set<uint64_t> distinct;
  for (const auto& [value, id] : c1_ids) distinct.insert(id);
  EXPECT_EQ(distinct.size(), 4u);  // distinct strings, distinct ids
  CheckJobOnOutput("criteo_shared_bottom.pbtxt", original, summary);
}

// ---------------------------------------------------------------------------------------------
// MovieLens: users 1..35, movies 1..40, every user rates every movie.

constexpr int kUsers = 35;
constexpr int kMovies = 40;
constexpr int kAges[] = {1, 18, 25, 35, 45, 50, 56};

int Rating(int user, int movie) { return 1 + (user * 7 + movie * 3 + user * movie) % 5; }
int AgeOf(int user) { return kAges[user % 7]; }
bool Male(int user) { return user % 3 != 0; }

std::string Ratings(const std::string& sep) {
  std::string s;
  for (int u = 1; u <= kUsers; ++u) {
    for (int m = 1; m <= kMovies; ++m) {
      s += std::to_string(u) + sep + std::to_string(m) + sep + std::to_string(Rating(u, m)) + sep +
           std::to_string(978300000 + u * 100 + m) + "\n";
    }
  }
  return s;
}

class MovieLensConfigTest : public DatasetConfigTest {
 protected:
  void WriteMl1m() {
    std::string users, movies;
    for (int u = 1; u <= kUsers; ++u) {
      users += std::to_string(u) + "::" + (Male(u) ? "M" : "F") + "::" + std::to_string(AgeOf(u)) +
               "::" + std::to_string(u % 21) + "::" + std::to_string(10000 + u * 37) + "\n";
    }
    for (int m = 1; m <= kMovies; ++m) {
      movies += std::to_string(m) + "::Movie " + std::to_string(m) + " (" +
                std::to_string(1960 + m) + ")::" + (m % 2 ? "Comedy|Drama" : "Sci-Fi") + "\n";
    }
    Write("ml-1m/users.dat", users);
    Write("ml-1m/movies.dat", movies);
    Write("ml-1m/ratings.dat", Ratings("::"));
  }

  // Per split: (user, movie) of every sample, with its domain and labels.
  struct Sample {
    int user, movie, domain;
    std::vector<float> labels;
  };
  std::vector<std::vector<Sample>> ReadSamples() {
    std::vector<std::vector<Sample>> out;
    for (const char* split : {"train", "validation", "test"}) {
      const Batch b = ReadSplit(split);
      std::vector<Sample>& samples = out.emplace_back();
      for (int64_t i = 0; i < b.size; ++i) {
        Sample s;
        s.user = static_cast<int>(b.user[i]);
        s.movie = static_cast<int>(b.ids[1][b.offsets[1][i]]);  // slot 1: item_id
        s.domain = b.domain[i];
        for (int t = 0; t < b.num_tasks; ++t) {
          EXPECT_EQ(b.label_mask[i * b.num_tasks + t], 1);
          s.labels.push_back(b.labels[i * b.num_tasks + t]);
        }
        samples.push_back(s);
      }
    }
    return out;
  }
};

TEST_F(MovieLensConfigTest, Ml1mM3oeProtocol) {
  WriteMl1m();
  ConvertConfig original;
  const ConvertSummary summary = Convert("movielens_1m_m3oe.convert.pbtxt", "ml-1m", &original);
  const int64_t n = kUsers * kMovies;
  ASSERT_EQ(summary.total_samples(), n);
  // Exact 80/10/10 over all rows.
  EXPECT_EQ(summary.split_samples(0), std::llround(0.8 * n));
  EXPECT_EQ(summary.split_samples(1), std::llround(0.9 * n) - std::llround(0.8 * n));
  std::set<std::pair<int, int>> seen;
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      EXPECT_TRUE(seen.emplace(s.user, s.movie).second);
      const int age = AgeOf(s.user);
      EXPECT_EQ(s.domain, age <= 18 ? 0 : age == 25 ? 1 : 2) << "user " << s.user;
      const int rating = Rating(s.user, s.movie);
      ASSERT_EQ(s.labels.size(), 2u);
      EXPECT_EQ(s.labels[0], rating > 3 ? 1.0f : 0.0f) << "click, rating " << rating;
      EXPECT_EQ(s.labels[1], rating > 4 ? 1.0f : 0.0f) << "like, rating " << rating;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
  CheckJobOnOutput("movielens_1m_mmoe.pbtxt", original, summary);
}

TEST_F(MovieLensConfigTest, Ml1mMloraGenderProtocol) {
  WriteMl1m();
  ConvertConfig original;
  const ConvertSummary summary =
      Convert("movielens_1m_mlora_gender.convert.pbtxt", "ml-1m", &original);
  ASSERT_EQ(summary.domain_names, (std::vector<std::string>{"F", "M"}));
  // 60/20/20 exactly within each domain.
  for (int d = 0; d < 2; ++d) {
    int64_t rows = 0;
    for (int u = 1; u <= kUsers; ++u) rows += (Male(u) ? 1 : 0) == d ? kMovies : 0;
    EXPECT_EQ(summary.samples[0][d], std::llround(0.6 * rows)) << "domain " << d;
    EXPECT_EQ(summary.samples[1][d], std::llround(0.8 * rows) - std::llround(0.6 * rows));
  }
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      EXPECT_EQ(s.domain, Male(s.user) ? 1 : 0);
      ASSERT_EQ(s.labels.size(), 1u);
      EXPECT_EQ(s.labels[0], Rating(s.user, s.movie) == 5 ? 1.0f : 0.0f);
    }
  }
  CheckJobOnOutput("movielens_1m_mlora_gender_shared_bottom.pbtxt", original, summary);
}

TEST_F(MovieLensConfigTest, Ml100kOccupationDomains) {
  const std::vector<std::string> occupations = {
      "administrator", "artist",     "doctor",     "educator", "engineer",  "entertainment",
      "executive",     "healthcare", "homemaker",  "lawyer",   "librarian", "marketing",
      "none",          "other",      "programmer", "retired",  "salesman",  "scientist",
      "student",       "technician", "writer"};
  std::string users, items;
  for (int u = 1; u <= kUsers; ++u) {
    users += std::to_string(u) + "|" + std::to_string(15 + u) + "|" + (Male(u) ? "M" : "F") + "|" +
             occupations[u % 21] + "|" + std::to_string(55000 + u) + "\n";
  }
  for (int m = 1; m <= kMovies; ++m) {
    items += std::to_string(m) + "|Movie " + std::to_string(m) + "|01-Jan-" +
             std::to_string(1960 + m) + "||http://example.org/" + std::to_string(m);
    for (int g = 0; g < 19; ++g) items += g == m % 19 ? "|1" : "|0";
    items += "\n";
  }
  Write("ml-100k/u.user", users);
  Write("ml-100k/u.item", items);
  Write("ml-100k/u.data", Ratings("\t"));
  ConvertConfig original;
  const ConvertSummary summary = Convert("movielens_100k.convert.pbtxt", "ml-100k", &original);
  ASSERT_EQ(summary.total_samples(), kUsers * kMovies);
  EXPECT_EQ(summary.domain_names, occupations);
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      EXPECT_EQ(s.domain, s.user % 21);
      EXPECT_EQ(s.labels[0], Rating(s.user, s.movie) == 5 ? 1.0f : 0.0f);
    }
  }
}

}  // namespace
}  // namespace moerec
