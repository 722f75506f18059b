#include "core/key_index.h"

#include <gtest/gtest.h>

#include <unordered_map>

#include "core/random.h"

namespace moerec {
namespace {

TEST(KeyIndexTest, MatchesAReferenceMapUnderRandomChurn) {
  KeyIndex index(4);
  std::unordered_map<uint64_t, uint32_t> reference;
  Rng rng(3);
  // Small key space so inserts, updates and erases collide often; includes key 0 and ~0.
  for (int op = 0; op < 200000; ++op) {
    const uint64_t key = rng.Below(4) == 0 ? ~uint64_t{0} * rng.Below(2) : rng.Below(5000);
    const uint32_t slot = static_cast<uint32_t>(rng.Below(1u << 30));
    switch (rng.Below(4)) {
      case 0:
      case 1: {
        const bool fresh = reference.emplace(key, slot).second;
        EXPECT_EQ(index.Insert(key, slot), fresh);
        break;
      }
      case 2: {
        auto it = reference.find(key);
        EXPECT_EQ(index.Erase(key), it == reference.end() ? KeyIndex::kAbsent : it->second);
        if (it != reference.end()) reference.erase(it);
        break;
      }
      case 3: {
        auto it = reference.find(key);
        EXPECT_EQ(index.Update(key, slot), it != reference.end());
        if (it != reference.end()) it->second = slot;
        break;
      }
    }
    ASSERT_EQ(index.size(), reference.size());
  }
  for (const auto& [key, slot] : reference) EXPECT_EQ(index.Find(key), slot);
  size_t visited = 0;
  index.ForEach([&](uint64_t key, uint32_t slot) {
    ++visited;
    EXPECT_EQ(reference.at(key), slot);
  });
  EXPECT_EQ(visited, reference.size());
  index.Clear();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Find(1), KeyIndex::kAbsent);
}

TEST(KeyIndexTest, GrowsPastItsInitialCapacity) {
  KeyIndex index(1);
  for (uint64_t k = 0; k < 100000; ++k)
    ASSERT_TRUE(index.Insert(k * 7919, static_cast<uint32_t>(k)));
  for (uint64_t k = 0; k < 100000; ++k) ASSERT_EQ(index.Find(k * 7919), k);
  EXPECT_EQ(index.Find(3), KeyIndex::kAbsent);
}

}  // namespace
}  // namespace moerec
