#include "core/parameter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace moerec {
namespace {

void FillRandom(ParameterSet* set, uint64_t seed) {
  Rng rng(seed);
  for (const auto& p : set->params()) {
    for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = static_cast<float>(rng.Normal());
  }
}

// A small model-like set: two parameters and two buffers.
void Build(ParameterSet* set) {
  set->Add("w", {3, 4});
  set->AddConstant("b", {4}, 0.5f);
  set->AddBuffer("bn/running_mean", {2, 4});
  set->AddBuffer("bn/running_var", {2, 4}, 1.0f);
}

bool SameValues(const ParameterSet& a, const ParameterSet& b) {
  if (a.params().size() != b.params().size()) return false;
  for (size_t i = 0; i < a.params().size(); ++i) {
    const Tensor& x = a.params()[i]->value;
    const Tensor& y = b.params()[i]->value;
    if (x.shape() != y.shape()) return false;
    for (int64_t k = 0; k < x.size(); ++k) {
      if (x[k] != y[k]) return false;
    }
  }
  return true;
}

TEST(ParameterSetTest, AddsParametersAndBuffers) {
  ParameterSet set;
  Build(&set);
  Rng rng(1);
  Parameter* g = set.AddGlorot("g", 10, 30, &rng);
  ASSERT_EQ(set.params().size(), 5u);
  EXPECT_EQ(set.Find("w")->value.shape(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(set.Find("nope"), nullptr);
  EXPECT_EQ(set.Find("b")->value[3], 0.5f);
  const Parameter* var = set.Find("bn/running_var");
  EXPECT_TRUE(var->is_buffer);
  EXPECT_FALSE(var->trainable());
  EXPECT_TRUE(var->grad.empty());
  EXPECT_EQ(var->value[7], 1.0f);
  EXPECT_TRUE(set.Find("w")->trainable());
  EXPECT_EQ(set.NumValues(), 12 + 4 + 300);
  EXPECT_EQ(set.NumBufferValues(), 16);
  const float limit = std::sqrt(6.0f / 40.0f);
  float max_abs = 0.0f;
  for (int64_t i = 0; i < g->value.size(); ++i) max_abs = std::max(max_abs, std::fabs(g->value[i]));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.8f * limit);
  set.Find("w")->grad.Fill(3.0f);
  set.ZeroGrad();
  EXPECT_EQ(set.Find("w")->grad[5], 0.0f);
  set.Find("w")->frozen = true;
  EXPECT_FALSE(set.Find("w")->trainable());
}

TEST(ParameterSetDeathTest, DuplicateNamesAreRefused) {
  ParameterSet set;
  Build(&set);
  EXPECT_DEATH(set.AddBuffer("w", {1}), "duplicate");
}

TEST(ParameterSetTest, SnapshotAndRestoreIncludeBuffers) {
  ParameterSet set;
  Build(&set);
  FillRandom(&set, 2);
  const std::vector<Tensor> snapshot = set.Snapshot();
  ASSERT_EQ(snapshot.size(), 4u);
  ParameterSet before;
  Build(&before);
  before.Restore(snapshot);
  FillRandom(&set, 3);
  EXPECT_FALSE(SameValues(set, before));
  set.Restore(snapshot);
  EXPECT_TRUE(SameValues(set, before));
}

TEST(ParameterSetTest, SaveAndLoadRoundTripInAnyOrder) {
  ParameterSet set;
  Build(&set);
  FillRandom(&set, 4);
  std::string bytes = "stale contents are replaced";
  ASSERT_TRUE(set.SaveTo(&bytes).ok());
  // Same entries, added in another order.
  ParameterSet other;
  other.AddBuffer("bn/running_var", {2, 4});
  other.AddConstant("b", {4}, 0.0f);
  other.AddBuffer("bn/running_mean", {2, 4});
  other.Add("w", {3, 4});
  const Status s = other.LoadFrom(bytes);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const auto& p : set.params()) {
    const Parameter* q = other.Find(p->name);
    for (int64_t i = 0; i < p->value.size(); ++i) ASSERT_EQ(q->value[i], p->value[i]);
  }
  std::string again;
  ASSERT_TRUE(set.SaveTo(&again).ok());
  EXPECT_EQ(again, bytes);
}

TEST(ParameterSetTest, LoadWithAPrefixFillsTheAdoptedSetOnly) {
  ParameterSet teacher;
  Build(&teacher);
  FillRandom(&teacher, 5);
  std::string bytes;
  ASSERT_TRUE(teacher.SaveTo(&bytes).ok());
  // A student that adopted a freshly built copy of the teacher under "teacher.".
  ParameterSet student, copy;
  Parameter* own = student.Add("w", {3, 4});
  Build(&copy);
  student.Adopt(&copy, "teacher.");
  own->value[0] = 7.0f;
  auto adopted = [](const Parameter& p) { return p.name.rfind("teacher.", 0) == 0; };
  const Status s = student.LoadFrom(bytes, adopted, nullptr, "teacher.");
  ASSERT_TRUE(s.ok()) << s;
  for (const auto& p : teacher.params()) {
    const Parameter* q = student.Find("teacher." + p->name);
    ASSERT_NE(q, nullptr) << p->name;
    for (int64_t i = 0; i < p->value.size(); ++i) ASSERT_EQ(q->value[i], p->value[i]) << p->name;
  }
  EXPECT_EQ(own->value[0], 7.0f) << "the student's own 'w' is not the teacher's 'w'";
  // Without the prefix, the names do not match.
  const Status unprefixed = student.LoadFrom(bytes, adopted);
  EXPECT_NE(unprefixed.message().find("'teacher.w' is missing"), std::string::npos) << unprefixed;
}

// LoadFrom of `bytes` into a set fails with `code` and a message containing `needle`, and
// leaves the set's values untouched.
void ExpectLoadFails(ParameterSet* set, const std::string& bytes, StatusCode code,
                     const std::string& needle) {
  const std::vector<Tensor> before = set->Snapshot();
  const Status s = set->LoadFrom(bytes);
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString();
  for (size_t i = 0; i < before.size(); ++i) {
    for (int64_t k = 0; k < before[i].size(); ++k) {
      ASSERT_EQ(set->params()[i]->value[k], before[i][k]) << "changed by a failed load";
    }
  }
}

// Subsets: the replicated entries in one file, the expert-local ones spread over files of their
// owners, loaded back by partial loads that report what they found.
TEST(ParameterSetTest, SubsetsSaveAndLoadInParts) {
  Rng rng(3);
  ParameterSet a;
  a.AddGlorot("shared", 3, 2, &rng);
  Parameter* e0 = a.AddGlorot("experts.0.w", 2, 2, &rng);
  Parameter* e1 = a.AddGlorot("experts.1.w", 2, 2, &rng);
  e0->expert_local = e1->expert_local = true;
  const auto local = [](const Parameter& p) { return p.expert_local; };
  const auto replicated = [](const Parameter& p) { return !p.expert_local; };
  std::string shared, experts0, experts1;
  ASSERT_TRUE(a.SaveTo(&shared, replicated).ok());
  ASSERT_TRUE(a.SaveTo(&experts0, [](const Parameter& p) { return p.name == "experts.0.w"; }).ok());
  ASSERT_TRUE(a.SaveTo(&experts1, [](const Parameter& p) { return p.name == "experts.1.w"; }).ok());
  ParameterSet b;
  b.Add("shared", {3, 2});
  b.Add("experts.0.w", {2, 2})->expert_local = true;
  b.Add("experts.1.w", {2, 2})->expert_local = true;
  ASSERT_TRUE(b.LoadFrom(shared, replicated).ok());
  EXPECT_FALSE(b.LoadFrom(shared).ok()) << "the whole set needs the experts too";
  EXPECT_FALSE(b.LoadFrom(experts0, local).ok()) << "not partial: experts.1.w is missing";
  std::vector<std::string> found;
  ASSERT_TRUE(b.LoadFrom(experts1, local, &found).ok());
  ASSERT_TRUE(b.LoadFrom(experts0, local, &found).ok());
  EXPECT_EQ(found, (std::vector<std::string>{"experts.1.w", "experts.0.w"}));
  for (const auto& p : a.params()) {
    for (int64_t i = 0; i < p->value.size(); ++i) {
      EXPECT_EQ(b.Find(p->name)->value[i], p->value[i]) << p->name;
    }
  }
  // A partial load skips entries this set does not keep: a worker holding expert 1 only.
  ParameterSet c;
  c.Add("experts.1.w", {2, 2})->expert_local = true;
  found.clear();
  ASSERT_TRUE(c.LoadFrom(experts0, local, &found).ok());
  EXPECT_TRUE(found.empty());
}

TEST(ParameterSetTest, LoadRefusesMismatchesNamingTheEntry) {
  ParameterSet saved;
  Build(&saved);
  FillRandom(&saved, 5);
  std::string bytes;
  ASSERT_TRUE(saved.SaveTo(&bytes).ok());

  ParameterSet missing;  // the bytes lack "extra"
  Build(&missing);
  missing.Add("extra", {2});
  FillRandom(&missing, 6);
  ExpectLoadFails(&missing, bytes, StatusCode::kInvalidArgument, "'extra' is missing");

  ParameterSet fewer;  // the bytes hold "bn/running_var", unknown here
  fewer.Add("w", {3, 4});
  fewer.AddConstant("b", {4}, 0.5f);
  fewer.AddBuffer("bn/running_mean", {2, 4});
  ExpectLoadFails(&fewer, bytes, StatusCode::kInvalidArgument, "'bn/running_var'");

  ParameterSet shape;
  shape.Add("w", {4, 3});
  shape.AddConstant("b", {4}, 0.5f);
  shape.AddBuffer("bn/running_mean", {2, 4});
  shape.AddBuffer("bn/running_var", {2, 4});
  ExpectLoadFails(&shape, bytes, StatusCode::kInvalidArgument, "'w' was saved with shape (3, 4)");

  ParameterSet kind;
  kind.Add("w", {3, 4});
  kind.AddConstant("b", {4}, 0.5f);
  kind.Add("bn/running_mean", {2, 4});
  kind.AddBuffer("bn/running_var", {2, 4});
  ExpectLoadFails(&kind, bytes, StatusCode::kInvalidArgument,
                  "'bn/running_mean' was saved as a buffer");
}

TEST(ParameterSetTest, LoadRefusesDamagedBytes) {
  ParameterSet set;
  Build(&set);
  FillRandom(&set, 7);
  std::string bytes;
  ASSERT_TRUE(set.SaveTo(&bytes).ok());
  // Every truncation, including the empty string.
  for (size_t n = 0; n < bytes.size(); ++n) {
    const Status s = set.LoadFrom(std::string_view(bytes).substr(0, n));
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << "prefix " << n << ": " << s.ToString();
  }
  ExpectLoadFails(&set, bytes.substr(0, bytes.size() / 2), StatusCode::kCorruption, "truncated");
  ExpectLoadFails(&set, bytes + "x", StatusCode::kCorruption, "after");
  // A flipped bit anywhere in a value is caught by the checksum.
  std::string flipped = bytes;
  flipped[flipped.size() - 10] ^= 0x10;
  ExpectLoadFails(&set, flipped, StatusCode::kCorruption, "CRC");
  std::string magic = bytes;
  magic[0] = 'X';
  ExpectLoadFails(&set, magic, StatusCode::kCorruption, "magic");
  EXPECT_TRUE(set.LoadFrom(bytes).ok());
}

}  // namespace
}  // namespace moerec
