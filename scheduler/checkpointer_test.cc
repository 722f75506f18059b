#include "scheduler/checkpointer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/temp_dir.h"
#include "embedding/table_spec.h"
#include "ps/checkpoint.h"
#include "ps/local_store.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// One process, one LocalStore table and a few dense parameters: the whole job state that a
// checkpoint holds, changed a little at every "step".
class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TableSpec spec;
    spec.name = "t";
    spec.name_hash = StableHash("t");
    spec.dim = 4;
    spec.seed = 5;
    spec.optimizer.set_type(RowOptimizerConfig::SGD);
    spec.optimizer.set_learning_rate(0.5f);
    auto store = LocalStore::Open({spec});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    w_ = params_.Add("w", {3, 2});
    for (int64_t i = 0; i < w_->value.size(); ++i) w_->value[i] = 0.1f * static_cast<float>(i);
    DenseOptimizerOptions o;
    auto opt = DenseOptimizer::Create(o, &params_);
    ASSERT_TRUE(opt.ok()) << opt.status();
    optimizer_ = std::move(*opt);
  }

  JobCheckpointer Make(int keep_last, bool incremental = false) {
    CheckpointConfig c;
    c.set_every_steps(1);
    c.set_keep_last(keep_last);
    c.set_incremental(incremental);
    c.set_full_every(3);
    return JobCheckpointer(c, dir_.path(), &comm_, store_.get(), 0);
  }

  // One training step: a dense update and a push to rows 0..2 (row k gets gradient k + step).
  void Step(int64_t step) {
    for (int64_t i = 0; i < w_->grad.size(); ++i) w_->grad[i] = 1.0f;
    optimizer_->Step();
    std::vector<TableRequest> reqs(1);
    reqs[0].keys = {0, 1, 2};
    reqs[0].values.assign(12, 0.0f);
    ASSERT_TRUE(store_->Wait(store_->Pull(&reqs, step, true)).ok());
    for (int k = 0; k < 3; ++k) {
      for (int j = 0; j < 4; ++j) reqs[0].values[k * 4 + j] = static_cast<float>(k + step);
    }
    ASSERT_TRUE(store_->Wait(store_->Push(&reqs, step)).ok());
  }

  std::vector<float> Rows() {
    std::vector<TableRequest> reqs(1);
    reqs[0].keys = {0, 1, 2};
    reqs[0].values.assign(12, 0.0f);
    EXPECT_TRUE(store_->Wait(store_->Pull(&reqs, 0, false)).ok());
    return reqs[0].values;
  }

  std::set<std::string> Folders() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_.path() + "/checkpoints")) {
      out.insert(e.path().filename().string());
    }
    return out;
  }

  // `best`: this checkpoint is a new best; else `best_so_far` names the best one (the trainer
  // carries it in its position).
  std::string WriteAt(JobCheckpointer& ckpt, int64_t step, bool best = false,
                      const std::string& best_so_far = "") {
    TrainerPosition pos;
    pos.step = step;
    pos.best_checkpoint = best_so_far;
    pos.epoch = 1;
    pos.epoch_batches = step * 10;
    std::string name;
    const Status s = ckpt.Write(pos, params_, *optimizer_, best, &name);
    EXPECT_TRUE(s.ok()) << s;
    return name;
  }

  TempDir dir_;
  SelfCommunicator comm_;
  std::unique_ptr<LocalStore> store_;
  ParameterSet params_;
  Parameter* w_ = nullptr;
  std::unique_ptr<DenseOptimizer> optimizer_;
};

TEST_F(CheckpointerTest, LoadRestoresWhatWriteSaw) {
  JobCheckpointer ckpt = Make(2);
  Step(0);
  const std::string name = WriteAt(ckpt, 1);
  const std::vector<float> w_saved(w_->value.data(), w_->value.data() + w_->value.size());
  const std::vector<float> rows_saved = Rows();
  Step(1);
  Step(2);
  ASSERT_NE(Rows(), rows_saved);

  TrainerPosition pos;
  ASSERT_TRUE(ckpt.Load(name, &params_, optimizer_.get(), &pos).ok());
  EXPECT_EQ(pos.step, 1);
  EXPECT_EQ(pos.epoch, 1);
  EXPECT_EQ(pos.epoch_batches, 10);
  EXPECT_EQ(std::vector<float>(w_->value.data(), w_->value.data() + w_->value.size()), w_saved);
  EXPECT_EQ(optimizer_->step_count(), 1);
  EXPECT_EQ(Rows(), rows_saved);
}

TEST_F(CheckpointerTest, KeepsTheNewestAndTheBest) {
  JobCheckpointer ckpt = Make(2);
  std::vector<std::string> names;
  for (int64_t s = 1; s <= 5; ++s) {
    Step(s);
    names.push_back(WriteAt(ckpt, s, /*best=*/s == 2, s > 2 ? names[1] : ""));
  }
  EXPECT_EQ(Folders(), (std::set<std::string>{names[1], names[3], names[4]}));
  auto latest = ckpt.FindLatest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, names[4]);
}

TEST_F(CheckpointerTest, ManifestIsWrittenLastAndAPartialCheckpointIsIgnored) {
  JobCheckpointer ckpt = Make(3);
  Step(1);
  const std::string first = WriteAt(ckpt, 1);
  Step(2);
  const std::string second = WriteAt(ckpt, 2);
  // A checkpoint killed before its MANIFEST: the files are there, the manifest is not.
  fs::remove(fs::path(ckpt.PathOf(second)) / "MANIFEST");
  JobCheckpointManifest m;
  EXPECT_FALSE(JobCheckpointer::Verify(ckpt.PathOf(second), &m).ok());
  auto latest = ckpt.FindLatest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, first);
  // An explicitly named partial checkpoint is refused, naming what is missing.
  TrainerPosition pos;
  const Status s = ckpt.Load(second, &params_, optimizer_.get(), &pos);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("MANIFEST"), std::string::npos) << s;
}

TEST_F(CheckpointerTest, ADamagedFileVoidsOnlyItsCheckpoint) {
  JobCheckpointer ckpt = Make(3);
  Step(1);
  const std::string first = WriteAt(ckpt, 1);
  Step(2);
  const std::string second = WriteAt(ckpt, 2);
  const std::string dense = ckpt.PathOf(second) + "/dense.bin";
  {
    std::fstream f(dense, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(dense) / 2));
    f.put('\x5a');
  }
  JobCheckpointManifest m;
  const Status s = JobCheckpointer::Verify(ckpt.PathOf(second), &m);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("dense.bin"), std::string::npos) << s;
  auto latest = ckpt.FindLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, first);
}

TEST_F(CheckpointerTest, NoCheckpointIsNotFound) {
  JobCheckpointer ckpt = Make(2);
  auto latest = ckpt.FindLatest();
  ASSERT_FALSE(latest.ok());
  EXPECT_EQ(latest.status().code(), StatusCode::kNotFound) << latest.status();
}

TEST_F(CheckpointerTest, IncrementalChainsKeepTheirBase) {
  JobCheckpointer ckpt = Make(1, /*incremental=*/true);
  std::vector<std::string> names;
  for (int64_t s = 1; s <= 2; ++s) {
    Step(s);
    names.push_back(WriteAt(ckpt, s));  // full, then incremental on it
  }
  // keep_last 1 keeps the newest, and the full checkpoint it stands on.
  EXPECT_EQ(Folders(), (std::set<std::string>{names[0], names[1]}));
  const std::vector<float> rows = Rows();
  Step(3);
  TrainerPosition pos;
  ASSERT_TRUE(ckpt.Load(names[1], &params_, optimizer_.get(), &pos).ok());
  EXPECT_EQ(Rows(), rows);
}

// A MANIFEST names files inside its folder only: a damaged or forged one that points elsewhere
// (found by tests/fuzz/checkpoint_manifest_fuzz) is refused before anything is read, so that
// Verify never checksums /dev/zero or another run's files.
TEST(JobCheckpointerVerifyTest, RefusesFileNamesOutsideTheCheckpoint) {
  moerec::testing::TempDir tmp;
  const std::string dir = tmp.file("step-0000000001");
  fs::create_directories(dir);
  for (const char* name : {"/dev/zero", "../dense.bin", "ps/../../x", ""}) {
    JobCheckpointManifest m;
    m.set_format_version(1);
    m.mutable_dense()->set_name(name);
    m.mutable_ps_manifest()->set_name("ps/MANIFEST");
    ASSERT_TRUE(WriteManifest(dir + "/MANIFEST", m).ok());
    JobCheckpointManifest got;
    const Status s = JobCheckpointer::Verify(dir, &got);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << name << ": " << s.ToString();
    EXPECT_NE(s.message().find(std::string("unsafe file name \"") + name + "\""), std::string::npos)
        << s.ToString();
  }
}

}  // namespace
}  // namespace moerec
