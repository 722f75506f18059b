// Checkpoints of P shards restored onto Q shards (rows re-hashed), incremental chains, and
// refusal of corrupt or partial checkpoints. Shards are RowStores in one process, routed by
// ShardOf like the servers of a job.
#include "ps/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/random.h"
#include "ps/internal/test_util.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

using testing::AllRows;
using testing::MakeSpec;
using testing::RowMap;
using testing::TempDir;

namespace fs = std::filesystem;
using Shards = std::vector<std::unique_ptr<RowStore>>;

std::vector<TableSpec> Specs() {
  std::vector<TableSpec> specs = {
      MakeSpec("user", 4, RowOptimizerConfig::ADAGRAD, 0.1f),
      MakeSpec("item", 3, RowOptimizerConfig::ADAM, 0.01f),
      MakeSpec("ctx", 2, RowOptimizerConfig::FTRL, 0.05f),
  };
  specs[1].storage.set_evict_unseen_steps(6);
  specs[2].storage.set_admission_min_count(2);
  return specs;
}

Shards OpenShards(const std::vector<TableSpec>& specs, int count, bool disk, const TempDir& dir,
                  const std::string& tag) {
  Shards shards;
  for (int i = 0; i < count; ++i) {
    RowStoreOptions o;
    o.shard = i;
    o.num_shards = count;
    if (disk) {
      o.db_path = dir / (tag + "-" + std::to_string(i));
      o.cache_bytes = 48 << 10;  // far below the tables: most rows live in RocksDB
    }
    shards.push_back(RowStore::Open(specs, o).value());
  }
  return shards;
}

// Training steps [first, first + steps): unique skewed keys per table, routed to their shards,
// pulled then pushed; with `sweep`, the eviction sweep after every step.
// Only the first `tables` tables when >= 0.
void Train(const Shards& shards, int64_t first, int steps, uint64_t seed, bool sweep,
           int tables = -1) {
  Rng rng(seed);
  const int p = static_cast<int>(shards.size());
  if (tables < 0) tables = shards[0]->num_tables();
  for (int64_t step = first; step < first + steps; ++step) {
    for (int t = 0; t < tables; ++t) {
      const TableSpec& spec = shards[0]->spec(t);
      std::set<uint64_t> drawn;
      while (drawn.size() < 250) {
        const double u = rng.Uniform();
        drawn.insert(static_cast<uint64_t>(u * u * u * 5000));
      }
      std::vector<std::vector<uint64_t>> routed(p);
      for (uint64_t k : drawn) routed[ShardOf(spec.name_hash, k, p)].push_back(k);
      for (int s = 0; s < p; ++s) {
        const auto& keys = routed[s];
        std::vector<float> rows(keys.size() * spec.dim), grads(keys.size() * spec.dim);
        ASSERT_TRUE(shards[s]->Pull(t, keys.data(), keys.size(), step, true, rows.data()).ok());
        for (float& g : grads) g = static_cast<float>(rng.Normal());
        ASSERT_TRUE(shards[s]->Push(t, keys.data(), keys.size(), step, grads.data()).ok());
      }
    }
    if (sweep) {
      for (const auto& s : shards) ASSERT_TRUE(s->EvictStale(step).ok());
    }
  }
}

// Every row of every shard, checking that each shard holds only rows it owns.
RowMap Union(const Shards& shards) {
  RowMap rows;
  for (const auto& s : shards) {
    RowMap own = AllRows(*s);
    for (const auto& [id, row] : own) {
      EXPECT_EQ(ShardOf(s->spec(id.first).name_hash, id.second, s->options().num_shards),
                s->options().shard)
          << "shard " << s->options().shard << " holds row " << id.second;
    }
    rows.merge(own);
  }
  return rows;
}

int64_t RowCount(const Shards& shards) {
  int64_t n = 0;
  for (const auto& s : shards) {
    for (int t = 0; t < s->num_tables(); ++t) n += s->stats(t).rows;
  }
  return n;
}

Status CheckpointAll(const Shards& shards, const std::string& dir, int64_t step, bool inc) {
  for (const auto& s : shards) RETURN_IF_ERROR(s->Checkpoint(dir, step, inc));
  return FinishCheckpoint(dir);
}

Status RestoreAll(const Shards& shards, const std::string& dir) {
  for (const auto& s : shards) RETURN_IF_ERROR(s->Restore(dir));
  return Status::OK();
}

void ExpectSameRows(const RowMap& want, const RowMap& got) {
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [id, row] : want) {
    auto it = got.find(id);
    ASSERT_TRUE(it != got.end()) << "missing row " << id.second << " of table " << id.first;
    EXPECT_TRUE(row == it->second) << "row " << id.second << " of table " << id.first;
  }
}

TEST(CheckpointTest, RestoreOntoAnotherServerCountGivesIdenticalRows) {
  TempDir dir;
  const auto specs = Specs();
  Shards old = OpenShards(specs, 3, /*disk=*/true, dir, "old");
  Train(old, 0, 12, 1, /*sweep=*/true);
  ASSERT_TRUE(CheckpointAll(old, dir / "ckpt", 12, false).ok());
  const RowMap want = Union(old);
  ASSERT_GT(want.size(), 1000u);
  EXPECT_GT(old[0]->stats(1).expired, 0) << "the sweep ran";
  EXPECT_GT(old[0]->stats(2).rejected, 0) << "admission held rows back";
  for (const auto& [count, disk] :
       std::vector<std::pair<int, bool>>{{2, true}, {4, false}, {1, false}, {3, true}}) {
    SCOPED_TRACE(std::to_string(count) + (disk ? " RocksDB shards" : " memory shards"));
    Shards restored = OpenShards(specs, count, disk, dir, "new" + std::to_string(count));
    ASSERT_TRUE(RestoreAll(restored, dir / "ckpt").ok());
    ExpectSameRows(want, Union(restored));
    EXPECT_EQ(RowCount(restored), static_cast<int64_t>(want.size()));
    EXPECT_EQ(restored[0]->last_checkpoint_step(), 12);
  }
}

TEST(CheckpointTest, MemoryOnlyShardsCheckpointToo) {
  TempDir dir;
  const auto specs = Specs();
  Shards old = OpenShards(specs, 2, /*disk=*/false, dir, "old");
  Train(old, 0, 6, 2, /*sweep=*/false);
  ASSERT_TRUE(CheckpointAll(old, dir / "ckpt", 6, false).ok());
  EXPECT_TRUE(fs::exists(dir / "ckpt/shard-00001/rows.dat"));
  Shards restored = OpenShards(specs, 3, /*disk=*/true, dir, "new");
  ASSERT_TRUE(RestoreAll(restored, dir / "ckpt").ok());
  ExpectSameRows(Union(old), Union(restored));
  // An increment of memory-only shards: changed rows and tombstones of swept ones.
  Train(old, 6, 8, 3, /*sweep=*/true);
  ASSERT_TRUE(CheckpointAll(old, dir / "inc", 14, true).ok());
  ShardManifest m;
  ASSERT_TRUE(ReadManifest(dir / "inc/shard-00000/MANIFEST", &m).ok());
  EXPECT_EQ(m.kind(), CHECKPOINT_INCREMENTAL);
  EXPECT_GT(old[0]->stats(1).expired, 0);
  Shards again = OpenShards(specs, 2, /*disk=*/true, dir, "again");
  ASSERT_TRUE(RestoreAll(again, dir / "inc").ok());
  ExpectSameRows(Union(old), Union(again));
}

TEST(CheckpointTest, ImportAddsAnotherJobsTablesUnderNewNamesOnAnyShardCount) {
  TempDir dir;
  const auto specs = Specs();
  Shards teacher = OpenShards(specs, 3, /*disk=*/true, dir, "teacher");
  Train(teacher, 0, 6, 4, /*sweep=*/false);
  ASSERT_TRUE(CheckpointAll(teacher, dir / "base", 6, false).ok());
  Train(teacher, 6, 4, 5, /*sweep=*/true);  // an increment with changed and swept rows
  ASSERT_TRUE(CheckpointAll(teacher, dir / "inc", 10, true).ok());
  const RowMap taught = Union(teacher);

  // The student: its own tables, and copies of two of the teacher's under other names.
  std::vector<TableSpec> student = specs;
  for (const int t : {0, 1}) {
    TableSpec copy = specs[t];
    copy.name = "teacher." + specs[t].name;
    copy.name_hash = StableHash(copy.name);
    student.push_back(copy);
  }
  const TableRenames renames = {{"user", "teacher.user"}, {"item", "teacher.item"}};
  for (const auto& [count, disk] : std::vector<std::pair<int, bool>>{{2, true}, {1, false}}) {
    SCOPED_TRACE(std::to_string(count) + (disk ? " RocksDB shards" : " memory shards"));
    Shards shards = OpenShards(student, count, disk, dir, "student" + std::to_string(count));
    Train(shards, 0, 2, 6, /*sweep=*/false, /*tables=*/3);
    const RowMap before = Union(shards);
    for (const auto& s : shards) ASSERT_TRUE(s->ImportTables(dir / "inc", renames).ok());
    // Tables 3 and 4 hold the teacher's user and item rows; every other row is untouched.
    RowMap want = before;
    int64_t copied = 0;
    for (const auto& [id, row] : taught) {
      if (id.first >= 2) continue;
      want[std::make_pair(id.first + 3, id.second)] = row;
      ++copied;
    }
    ASSERT_GT(copied, 1000);
    ExpectSameRows(want, Union(shards));
    int64_t rows = 0;
    for (const auto& s : shards) rows += s->stats(3).rows + s->stats(4).rows;
    int64_t want_rows = 0;
    for (const auto& [id, row] : want) want_rows += id.first >= 3 ? 1 : 0;
    EXPECT_EQ(rows, want_rows);
  }

  // A table the checkpoint lacks, or one of another layout, is refused by name, and nothing
  // changes.
  Shards shards = OpenShards(student, 1, /*disk=*/false, dir, "refused");
  const Status missing = shards[0]->ImportTables(dir / "inc", {{"nope", "teacher.user"}});
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("no table \"nope\""), std::string::npos) << missing;
  const Status layout = shards[0]->ImportTables(dir / "inc", {{"ctx", "teacher.user"}});
  EXPECT_NE(layout.message().find("has dim 2 and optimizer FTRL"), std::string::npos) << layout;
  const Status target = shards[0]->ImportTables(dir / "inc", {{"user", "student.user"}});
  EXPECT_NE(target.message().find("\"student.user\" is not in this job"), std::string::npos)
      << target;
  EXPECT_TRUE(Union(shards).empty());
  ASSERT_TRUE(shards[0]->ImportTables(dir / "inc", renames).ok());
  const Status again = shards[0]->ImportTables(dir / "inc", renames);
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again;
}

TEST(CheckpointTest, IncrementalChainRestoresEachStep) {
  TempDir dir;
  const auto specs = Specs();
  Shards old = OpenShards(specs, 2, /*disk=*/true, dir, "old");
  Train(old, 0, 6, 3, true);
  ASSERT_TRUE(CheckpointAll(old, dir / "c1", 6, /*inc=*/true).ok());  // no base yet: full
  Train(old, 6, 4, 4, true);
  ASSERT_TRUE(CheckpointAll(old, dir / "c2", 10, true).ok());
  const RowMap want2 = Union(old);
  Train(old, 10, 4, 5, true);
  ASSERT_TRUE(CheckpointAll(old, dir / "c3", 14, true).ok());
  const RowMap want3 = Union(old);

  CheckpointManifest m1, m3;
  ASSERT_TRUE(ReadManifest(dir / "c1/MANIFEST", &m1).ok());
  ASSERT_TRUE(ReadManifest(dir / "c3/MANIFEST", &m3).ok());
  EXPECT_EQ(m1.kind(), CHECKPOINT_FULL);
  EXPECT_EQ(m3.kind(), CHECKPOINT_INCREMENTAL);
  EXPECT_EQ(m3.base(), "../c2");
  EXPECT_EQ(m3.base_step(), 10);
  // Every record of shard 0 takes at least 20 + 24 + 4 * 6 bytes: the increment is smaller than
  // all of the shard's rows would be.
  int64_t shard0_rows = 0;
  for (int t = 0; t < 3; ++t) shard0_rows += old[0]->stats(t).rows;
  EXPECT_LT(fs::file_size(dir / "c3/shard-00000/rows.dat"), shard0_rows * 68 * 2 / 3)
      << "an increment holds the changed rows only";
  auto chain = LoadCheckpointChain(dir / "c3");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_EQ(chain->size(), 3u);

  Shards three = OpenShards(specs, 3, /*disk=*/false, dir, "three");
  ASSERT_TRUE(RestoreAll(three, dir / "c3").ok());
  ExpectSameRows(want3, Union(three));
  Shards one = OpenShards(specs, 1, /*disk=*/true, dir, "one");
  ASSERT_TRUE(RestoreAll(one, dir / "c2").ok());
  ExpectSameRows(want2, Union(one));

  // A restored server continues the chain: its increment stands on c2 (2 shards).
  Train(one, 10, 3, 6, true);
  ASSERT_TRUE(CheckpointAll(one, dir / "c4", 13, true).ok());
  CheckpointManifest m4;
  ASSERT_TRUE(ReadManifest(dir / "c4/MANIFEST", &m4).ok());
  EXPECT_EQ(m4.kind(), CHECKPOINT_INCREMENTAL);
  Shards two = OpenShards(specs, 2, /*disk=*/true, dir, "two");
  ASSERT_TRUE(RestoreAll(two, dir / "c4").ok());
  ExpectSameRows(Union(one), Union(two));
}

void FlipByte(const std::string& path, uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(~c);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

std::string FirstSst(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".sst") return e.path().string();
  }
  return "";
}

TEST(CheckpointTest, CorruptOrPartialCheckpointsAreRefusedAndNothingIsLoaded) {
  TempDir dir;
  const auto specs = Specs();
  {
    Shards disk = OpenShards(specs, 2, true, dir, "disk");
    Train(disk, 0, 3, 7, false);
    ASSERT_TRUE(CheckpointAll(disk, dir / "good-db", 3, false).ok());
    Shards memory = OpenShards(specs, 2, false, dir, "mem");
    Train(memory, 0, 3, 7, false);
    ASSERT_TRUE(CheckpointAll(memory, dir / "good-rows", 3, false).ok());
  }
  // The target already holds rows; a refused restore must leave them as they are.
  Shards target = OpenShards(specs, 1, false, dir, "target");
  Train(target, 0, 2, 8, false);
  const RowMap before = AllRows(*target[0]);

  struct Damage {
    std::string name;
    std::string source;
    std::function<void(const std::string&)> apply;
    StatusCode code;
    std::string expect;  // in the message
  };
  const std::vector<Damage> damages = {
      {"flipped byte in an SST", "good-db",
       [](const std::string& d) {
         const std::string sst = FirstSst(d + "/shard-00001/db");
         FlipByte(sst, fs::file_size(sst) / 2);
       },
       StatusCode::kCorruption, "crc32"},
      {"truncated row file", "good-rows",
       [](const std::string& d) {
         fs::resize_file(d + "/shard-00000/rows.dat",
                         fs::file_size(d + "/shard-00000/rows.dat") - 7);
       },
       StatusCode::kCorruption, "rows.dat"},
      {"missing shard manifest", "good-db",
       [](const std::string& d) { fs::remove(d + "/shard-00001/MANIFEST"); },
       StatusCode::kCorruption, "shard-00001/MANIFEST: missing"},
      {"missing job manifest", "good-rows",
       [](const std::string& d) { fs::remove(d + "/MANIFEST"); }, StatusCode::kCorruption,
       "partial checkpoint"},
      {"damaged shard manifest", "good-rows",
       [](const std::string& d) { FlipByte(d + "/shard-00000/MANIFEST", 20); },
       StatusCode::kCorruption, "shard-00000/MANIFEST"},
      {"damaged job manifest", "good-db",
       [](const std::string& d) { FlipByte(d + "/MANIFEST", 3); }, StatusCode::kCorruption,
       "checksum"},
      {"missing SST", "good-db",
       [](const std::string& d) { fs::remove(FirstSst(d + "/shard-00000/db")); },
       StatusCode::kCorruption, "missing"},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    const std::string copy = dir / ("bad-" + std::to_string(&d - damages.data()));
    fs::copy(dir / d.source, copy, fs::copy_options::recursive);
    d.apply(copy);
    const Status s = target[0]->Restore(copy);
    EXPECT_EQ(s.code(), d.code) << s.ToString();
    EXPECT_NE(s.message().find(d.expect), std::string::npos) << s.ToString();
    EXPECT_EQ(VerifyCheckpoint(copy).code(), d.code);
    ExpectSameRows(before, AllRows(*target[0]));
  }
  EXPECT_TRUE(VerifyCheckpoint(dir / "good-db").ok());

  // A job whose tables differ is refused the same way.
  std::vector<TableSpec> other = specs;
  other[0].dim = 5;
  auto wrong = RowStore::Open(other).value();
  const Status s = wrong->Restore(dir / "good-db");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("\"user\" has dim 4"), std::string::npos) << s.ToString();
}

TEST(CheckpointTest, IncrementsWithoutTheirBaseAreWrittenFull) {
  TempDir dir;
  const auto specs = Specs();
  Shards shards = OpenShards(specs, 2, /*disk=*/true, dir, "s");
  Train(shards, 0, 2, 10, false);
  ASSERT_TRUE(CheckpointAll(shards, dir / "c", 2, true).ok());
  // The same step written again into the same folder (after removing it).
  fs::remove_all(dir / "c");
  ASSERT_TRUE(CheckpointAll(shards, dir / "c", 2, true).ok());
  CheckpointManifest m;
  ASSERT_TRUE(ReadManifest(dir / "c/MANIFEST", &m).ok());
  EXPECT_EQ(m.kind(), CHECKPOINT_FULL);
  // The base removed before the next checkpoint.
  Train(shards, 2, 2, 11, false);
  fs::remove_all(dir / "c");
  ASSERT_TRUE(CheckpointAll(shards, dir / "d", 4, true).ok());
  ASSERT_TRUE(ReadManifest(dir / "d/MANIFEST", &m).ok());
  EXPECT_EQ(m.kind(), CHECKPOINT_FULL);
  Shards restored = OpenShards(specs, 3, /*disk=*/false, dir, "r");
  ASSERT_TRUE(RestoreAll(restored, dir / "d").ok());
  ExpectSameRows(Union(shards), Union(restored));
}

TEST(CheckpointTest, PartsAreWrittenOnceAndTheJobManifestNeedsEveryShard) {
  TempDir dir;
  const auto specs = Specs();
  Shards shards = OpenShards(specs, 2, false, dir, "s");
  Train(shards, 0, 1, 9, false);
  ASSERT_TRUE(shards[0]->Checkpoint(dir / "c", 1, false).ok());
  EXPECT_EQ(shards[0]->Checkpoint(dir / "c", 1, false).code(), StatusCode::kFailedPrecondition);
  const Status s = FinishCheckpoint(dir / "c");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("server 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(VerifyCheckpoint(dir / "c").code(), StatusCode::kCorruption);
  ASSERT_TRUE(shards[1]->Checkpoint(dir / "c", 1, false).ok());
  EXPECT_TRUE(FinishCheckpoint(dir / "c").ok());
  EXPECT_TRUE(VerifyCheckpoint(dir / "c").ok());
}

}  // namespace
}  // namespace moerec
