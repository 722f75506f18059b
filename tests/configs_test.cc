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

// Every input path of a convert config: files, folders, joined tables.
std::vector<std::string*> InputPaths(ConvertConfig* config) {
  std::vector<std::string*> paths;
  if (config->has_movielens()) paths.push_back(config->mutable_movielens()->mutable_dir());
  if (config->has_aliccp()) paths.push_back(config->mutable_aliccp()->mutable_dir());
  if (config->has_csv()) {
    CsvInput* csv = config->mutable_csv();
    for (auto* list :
         {csv->mutable_files(), csv->mutable_validation_files(), csv->mutable_test_files()}) {
      for (std::string& f : *list) paths.push_back(&f);
    }
    for (CsvJoin& join : *csv->mutable_joins()) paths.push_back(join.mutable_file());
  }
  return paths;
}

Status CheckConvertConfig(const std::string& path) {
  ASSIGN_OR_RETURN(ConvertConfig config, LoadConvertConfig(path));
  RETURN_IF_ERROR(InDataFolder(config.output_dir(), "output_dir"));
  for (const std::string* input : InputPaths(&config)) {
    RETURN_IF_ERROR(InDataFolder(*input, "input"));
  }
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
    d->clear_items();
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

  // Loads configs/<name> and moves every input from <repo>/datasets/ to dir_/ (the test writes
  // the files there under the same names) and the output to dir_/out; converts.
  ConvertSummary ConvertRebased(const std::string& name) {
    StatusOr<ConvertConfig> config = LoadConvertConfig(ConfigPath(name));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return {};
    const std::string datasets = (SourceDir() / "datasets").lexically_normal().string() + "/";
    for (std::string* path : InputPaths(&*config)) {
      const std::string p = fs::path(*path).lexically_normal().string();
      EXPECT_TRUE(p.starts_with(datasets)) << p;
      *path = (dir_ / p.substr(datasets.size())).string();
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
    if (!data->items().empty()) {
      EXPECT_EQ(data->items(0), convert.output_dir() + "/items") << job;
      data->clear_items();
      data->add_items((dir_ / "out" / "items").string());
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

  void WriteMl100k();

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

TEST_F(MovieLensConfigTest, Ml1mMatchingProtocol) {
  WriteMl1m();
  ConvertConfig original;
  const ConvertSummary summary = Convert("movielens_1m_matching.convert.pbtxt", "ml-1m", &original);
  ASSERT_EQ(summary.total_samples(), kUsers * kMovies);
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      ASSERT_EQ(s.labels.size(), 1u);
      EXPECT_EQ(s.labels[0], Rating(s.user, s.movie) >= 4 ? 1.0f : 0.0f);
    }
  }
  ASSERT_EQ(summary.data_config.items_size(), 1);
  CheckJobOnOutput("movielens_1m_two_tower.pbtxt", original, summary);
}

TEST_F(MovieLensConfigTest, Ml1mDsmoeOnTheMatchingProtocol) {
  WriteMl1m();
  ConvertConfig original;
  const ConvertSummary summary = Convert("movielens_1m_matching.convert.pbtxt", "ml-1m", &original);
  CheckJobOnOutput("movielens_1m_dsmoe.pbtxt", original, summary);
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

const std::vector<std::string> kOccupations100K = {
    "administrator", "artist",     "doctor",     "educator", "engineer",  "entertainment",
    "executive",     "healthcare", "homemaker",  "lawyer",   "librarian", "marketing",
    "none",          "other",      "programmer", "retired",  "salesman",  "scientist",
    "student",       "technician", "writer"};

// User u of the 100K files is 15 + u years old.
void MovieLensConfigTest::WriteMl100k() {
  const std::vector<std::string>& occupations = kOccupations100K;
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
}

TEST_F(MovieLensConfigTest, Ml100kOccupationDomains) {
  const std::vector<std::string>& occupations = kOccupations100K;
  WriteMl100k();
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

TEST_F(MovieLensConfigTest, Ml1mMloraAgeAndOccupationProtocols) {
  WriteMl1m();
  ConvertConfig original;
  ConvertSummary age = Convert("movielens_1m_mlora_age.convert.pbtxt", "ml-1m", &original);
  ASSERT_EQ(age.domain_names, (std::vector<std::string>{"age_1", "age_18", "age_25", "age_35",
                                                        "age_45", "age_50", "age_56"}));
  for (int d = 0; d < 7; ++d) {
    int64_t rows = 0;
    for (int u = 1; u <= kUsers; ++u) rows += AgeOf(u) == kAges[d] ? kMovies : 0;
    EXPECT_EQ(age.samples[0][d], std::llround(0.6 * rows)) << "domain " << d;
    EXPECT_EQ(age.samples[1][d], std::llround(0.8 * rows) - std::llround(0.6 * rows));
  }
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      EXPECT_EQ(kAges[s.domain], AgeOf(s.user));
      EXPECT_EQ(s.labels[0], Rating(s.user, s.movie) == 5 ? 1.0f : 0.0f);
    }
  }
  fs::remove_all(dir_ / "out");
  ConvertSummary occupation =
      Convert("movielens_1m_mlora_occupation.convert.pbtxt", "ml-1m", &original);
  ASSERT_EQ(occupation.domain_names.size(), 21u);
  EXPECT_EQ(occupation.domain_names[12], "programmer");
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) EXPECT_EQ(s.domain, s.user % 21);
  }
}

TEST_F(MovieLensConfigTest, Ml100kM3oeProtocolBucketsYearsIntoTheAgeGroups) {
  WriteMl100k();
  ConvertConfig original;
  const ConvertSummary summary = Convert("movielens_100k_m3oe.convert.pbtxt", "ml-100k", &original);
  const int64_t n = kUsers * kMovies;
  ASSERT_EQ(summary.total_samples(), n);
  EXPECT_EQ(summary.domain_names, (std::vector<std::string>{"age_1_18", "age_25", "age_35_56"}));
  EXPECT_EQ(summary.split_samples(0), std::llround(0.8 * n));
  for (const auto& split : ReadSamples()) {
    for (const Sample& s : split) {
      const int years = 15 + s.user;  // WriteMl100k
      EXPECT_EQ(s.domain, years < 25 ? 0 : years < 35 ? 1 : 2) << "user " << s.user;
      const int rating = Rating(s.user, s.movie);
      EXPECT_EQ(s.labels[0], rating > 3 ? 1.0f : 0.0f);
      EXPECT_EQ(s.labels[1], rating > 4 ? 1.0f : 0.0f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ali-CCP, the raw layout: per half, users 0..4 in common_features (field 101 and the profile
// fields), samples with the item, cross and scenario fields; sample i of a half has scenario
// 90 + i % 3 and user i % 5.

using AliCcpEntries = std::vector<std::pair<std::string, uint64_t>>;

std::string AliCcpFeatures(const AliCcpEntries& entries) {
  std::string s;
  for (const auto& [field, id] : entries) {
    s += (s.empty() ? "" : "\x01") + field + "\x02" + std::to_string(id) + "\x03" + "1.0";
  }
  return std::to_string(entries.size()) + "," + s;
}

uint64_t AliCcpItem(int half, int i) { return 5000 + half * 1000 + i; }
int AliCcpClick(int i) { return i % 3 == 0; }
int AliCcpBuy(int i) { return AliCcpClick(i) && i % 2 == 0; }

TEST_F(DatasetConfigTest, AliCcpRawLayout) {
  const int samples[2] = {60, 12};
  const char* names[2] = {"train", "test"};
  for (int h = 0; h < 2; ++h) {
    std::string common, skeleton;
    for (int u = 0; u < 5; ++u) {
      AliCcpEntries e = {{"101", uint64_t(1000 + h * 10 + u)}};
      for (const char* f : {"121", "122", "124", "125", "126", "127", "128", "129"}) {
        e.push_back({f, uint64_t(2000 + u)});
      }
      for (int j = 0; j < 3; ++j) e.push_back({"109_14", uint64_t(3000 + j)});  // not a slot
      common += "h" + std::to_string(h) + "u" + std::to_string(u) + "," + AliCcpFeatures(e) + "\n";
    }
    for (int i = 0; i < samples[h]; ++i) {
      const AliCcpEntries e = {{"205", AliCcpItem(h, i)},
                               {"206", 60},
                               {"207", 70},
                               {"216", 80},
                               {"508", 81},
                               {"508", 82},
                               {"509", 83},
                               {"702", 84},
                               {"853", 85},
                               {"210", 86},
                               {"301", uint64_t(90 + i % 3)}};
      skeleton += std::to_string(i) + "," + std::to_string(AliCcpClick(i)) + "," +
                  std::to_string(AliCcpBuy(i)) + ",h" + std::to_string(h) + "u" +
                  std::to_string(i % 5) + "," + AliCcpFeatures(e) + "\n";
    }
    if (h == 0) skeleton += "999,0,1,h0u0," + AliCcpFeatures({{"301", 90}}) + "\n";  // dropped
    Write(std::string("aliccp/common_features_") + names[h] + ".csv", common);
    Write(std::string("aliccp/sample_skeleton_") + names[h] + ".csv", skeleton);
  }
  const ConvertSummary summary = ConvertRebased("aliccp.convert.pbtxt");
  EXPECT_EQ(summary.domain_names, (std::vector<std::string>{"301_90", "301_91", "301_92"}));
  EXPECT_EQ(summary.task_names, (std::vector<std::string>{"click", "purchase"}));
  EXPECT_EQ(summary.rows_dropped, 1) << "the conversion without a click";
  EXPECT_EQ(summary.split_samples(0) + summary.split_samples(1), samples[0]);
  EXPECT_GT(summary.split_samples(1), 0) << "10% of the train half";
  EXPECT_EQ(summary.split_samples(2), samples[1]);
  ASSERT_EQ(summary.data_config.slots_size(), 18);
  std::set<uint64_t> items;
  for (const char* split : {"train", "validation", "test"}) {
    const Batch b = ReadSplit(split);
    for (int64_t k = 0; k < b.size; ++k) {
      const uint64_t item = b.ids[9][b.offsets[9][k]];  // slot 9: item_id (205)
      const int h = static_cast<int>((item - 5000) / 1000);
      const int i = static_cast<int>((item - 5000) % 1000);
      EXPECT_EQ(h, std::string(split) == "test" ? 1 : 0);
      items.insert(item);
      EXPECT_EQ(b.domain[k], i % 3);
      EXPECT_EQ(b.labels[2 * k], AliCcpClick(i));
      EXPECT_EQ(b.labels[2 * k + 1], AliCcpBuy(i));
      EXPECT_EQ(b.user[k], uint64_t(1000 + h * 10 + i % 5));
      EXPECT_EQ(b.ids[0][b.offsets[0][k]], b.user[k]) << "slot 0: user_id, from common features";
      EXPECT_EQ(b.offsets[13][k + 1] - b.offsets[13][k], 2u) << "slot 13: both 508 ids";
    }
  }
  EXPECT_EQ(items.size(), static_cast<size_t>(samples[0] + samples[1]));
}

// ---------------------------------------------------------------------------------------------
// AliExpress: AliExpress_<CC>/{train,test}.csv, search_id, categorical_1..16, numerical_1..63,
// click, conversion.

TEST_F(DatasetConfigTest, AliExpressFiveCountries) {
  const char* countries[] = {"NL", "ES", "FR", "US", "RU"};
  std::string header = "search_id";
  for (int k = 1; k <= 16; ++k) header += ",categorical_" + std::to_string(k);
  for (int k = 1; k <= 63; ++k) header += ",numerical_" + std::to_string(k);
  header += ",click,conversion\n";
  // Row r of country c's train (t = 0) or test (t = 1) file: search id c*1000 + t*100 + r.
  for (int c = 0; c < 5; ++c) {
    for (int t = 0; t < 2; ++t) {
      std::string text = header;
      for (int r = 0; r < (t == 0 ? 30 : 4); ++r) {
        text += std::to_string(c * 1000 + t * 100 + r);
        for (int k = 0; k < 16; ++k) text += "," + std::to_string((r + k) % 5);
        for (int k = 0; k < 63; ++k) text += ",0.5";
        text += "," + std::to_string(r % 2) + "," + std::to_string(r % 4 == 1) + "\n";
      }
      Write(std::string("aliexpress/AliExpress_") + countries[c] + (t ? "/test.csv" : "/train.csv"),
            text);
    }
  }
  const ConvertSummary summary = ConvertRebased("aliexpress.convert.pbtxt");
  EXPECT_EQ(summary.domain_names, (std::vector<std::string>{"NL", "ES", "FR", "US", "RU"}));
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(summary.samples[0][c] + summary.samples[1][c], 30) << countries[c];
    EXPECT_EQ(summary.samples[2][c], 4) << countries[c];
  }
  EXPECT_GT(summary.split_samples(1), 0);
  EXPECT_EQ(summary.data_config.slots_size(), 16);
  EXPECT_EQ(summary.data_config.num_dense(), 63);
  for (const char* split : {"train", "validation", "test"}) {
    const Batch b = ReadSplit(split);
    for (int64_t k = 0; k < b.size; ++k) {
      const int c = static_cast<int>(b.user[k] / 1000);
      const int t = static_cast<int>(b.user[k] % 1000 / 100);
      const int r = static_cast<int>(b.user[k] % 100);
      EXPECT_EQ(b.domain[k], c);
      EXPECT_EQ(t, std::string(split) == "test" ? 1 : 0) << split;
      EXPECT_EQ(b.labels[2 * k], r % 2);
      EXPECT_EQ(b.labels[2 * k + 1], r % 4 == 1);
      EXPECT_EQ(b.ids[15][b.offsets[15][k]], uint64_t((r + 15) % 5));
      EXPECT_EQ(b.dense[k * 63 + 62], 0.5f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// KuaiRand-1K and -Pure: two standard logs, user_features, video_features_basic. Log row r:
// user r % 4, video 10 + r % 6, tab r % 8, hourmin 1000 + r.

// (file name, contents) of the four files.
std::vector<std::pair<std::string, std::string>> KuaiRandFiles(const std::string& dir,
                                                               const std::string& suffix,
                                                               int rows) {
  const std::string log_header =
      "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,"
      "is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,"
      "is_profile_enter,is_rand,tab\n";
  std::string logs[2] = {log_header, log_header};
  for (int r = 0; r < rows; ++r) {
    logs[r * 2 / rows] += std::to_string(r % 4) + "," + std::to_string(10 + r % 6) + ",20220410," +
                          std::to_string(1000 + r) + "," + std::to_string(1649500000000LL + r) +
                          "," + std::to_string(r % 2) + "," + std::to_string(r % 5 == 0) +
                          ",0,0,0,0," + std::to_string(r % 3 == 0) + ",1000,2000,0,0,0,0," +
                          std::to_string(r % 8) + "\n";
  }
  std::string users =
      "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
      "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,friend_user_num,"
      "friend_user_num_range,register_days,register_days_range";
  for (int k = 0; k < 18; ++k) users += ",onehot_feat" + std::to_string(k);
  users += "\n";
  for (int u = 0; u < 4; ++u) {
    users += std::to_string(u) + ",full_active,0,0,1,5,\"(0,10]\",312,\"[100,1k)\",0,0,3624,730+";
    for (int k = 0; k < 18; ++k) users += "," + std::to_string(k % 3);
    users += "\n";
  }
  std::string videos =
      "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
      "server_width,server_height,music_id,music_type,tag\n";
  for (int v = 10; v < 16; ++v) {
    videos += std::to_string(v) + "," + std::to_string(400 + v) +
              ",NORMAL,2020-07-08,ShortImport,1,17200.0,720,1280,989206467,4," +
              (v % 2 ? "\"12,65\"" : "7") + "\n";
  }
  return {{dir + "/log_standard_4_08_to_4_21_" + suffix + ".csv", logs[0]},
          {dir + "/log_standard_4_22_to_5_08_" + suffix + ".csv", logs[1]},
          {dir + "/user_features_" + suffix + ".csv", users},
          {dir + "/video_features_basic_" + suffix + ".csv", videos}};
}

TEST_F(DatasetConfigTest, KuaiRand1kAndPure) {
  constexpr int kRows = 80;
  const std::map<int, int> domain_of_tab = {{0, 0}, {1, 1}, {2, 2}, {4, 3}, {6, 4}};
  for (const auto& [suffix, folder] :
       {std::pair<std::string, std::string>{"1k", "KuaiRand-1K"}, {"pure", "KuaiRand-Pure"}}) {
    fs::remove_all(dir_ / "out");
    for (const auto& [name, text] : KuaiRandFiles(folder + "/data", suffix, kRows)) {
      Write(name, text);
    }
    const ConvertSummary summary = ConvertRebased("kuairand_" + suffix + ".convert.pbtxt");
    EXPECT_EQ(summary.domain_names,
              (std::vector<std::string>{"tab_0", "tab_1", "tab_2", "tab_4", "tab_6"}));
    EXPECT_EQ(summary.task_names, (std::vector<std::string>{"click", "long_view", "like"}));
    int kept = 0;
    for (int r = 0; r < kRows; ++r) kept += domain_of_tab.count(r % 8);
    EXPECT_EQ(summary.total_samples(), kept) << suffix;
    EXPECT_EQ(summary.rows_dropped, kRows - kept) << "tabs 3, 5 and 7";
    EXPECT_EQ(summary.bad_rows, 0);
    EXPECT_EQ(summary.split_samples(0), std::llround(0.8 * kept));
    ASSERT_EQ(summary.data_config.slots_size(), 36);
    EXPECT_EQ(summary.data_config.num_dense(), 5);
    EXPECT_EQ(summary.data_config.slots(35).name(), "tag");
    for (const char* split : {"train", "validation", "test"}) {
      const Batch b = ReadSplit(split);
      for (int64_t k = 0; k < b.size; ++k) {
        const int r = static_cast<int>(b.ids[2][b.offsets[2][k]]) - 1000;  // slot 2: hourmin
        EXPECT_EQ(b.domain[k], domain_of_tab.at(r % 8));
        EXPECT_EQ(b.user[k], uint64_t(r % 4));
        EXPECT_EQ(b.labels[3 * k], r % 2);
        EXPECT_EQ(b.labels[3 * k + 1], r % 3 == 0);
        EXPECT_EQ(b.labels[3 * k + 2], r % 5 == 0);
        EXPECT_EQ(b.ids[29][b.offsets[29][k]], uint64_t(400 + 10 + r % 6)) << "author_id";
        EXPECT_EQ(b.offsets[35][k + 1] - b.offsets[35][k], (10 + r % 6) % 2 ? 2u : 1u) << "tag";
        EXPECT_FLOAT_EQ(b.dense[5 * k + 4], std::log1p(17200.0f)) << "video_duration";
      }
    }
  }
}

}  // namespace
}  // namespace moerec
