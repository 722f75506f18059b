// Helpers shared by the converter tests: writing input files and reading back a split's shards.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_TEST_UTIL_H_
#define MOEREC_DATA_CONVERT_INTERNAL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/shard.h"

namespace moerec::convert::testing {

inline void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// The shard files of a split directory, in name order.
inline std::vector<std::string> ShardFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Every sample of every shard of `dir`, in order, as one batch; *header gets the last header.
inline Batch ReadSplit(const std::string& dir, ShardHeader* header = nullptr) {
  Batch all;
  for (const std::string& path : ShardFiles(dir)) {
    EXPECT_TRUE(path.ends_with(".mrs")) << path;
    auto reader = ShardReader::Open(path);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return all;
    if (header != nullptr) *header = (*reader)->header();
    if (all.size == 0) {
      const ShardHeader& h = (*reader)->header();
      all.Reset(h.num_tasks(), h.num_slots(), h.num_dense());
    }
    Batch block;
    for (int b = 0; b < (*reader)->num_blocks(); ++b) {
      const Status s = (*reader)->ReadBlock(b, &block);
      EXPECT_TRUE(s.ok()) << s.ToString();
      all.AppendFrom(block, 0, block.size);
    }
  }
  return all;
}

// Ids of slot s of sample i.
inline std::vector<uint64_t> SlotIds(const Batch& b, int s, int64_t i) {
  return std::vector<uint64_t>(b.ids[s].begin() + b.offsets[s][i],
                               b.ids[s].begin() + b.offsets[s][i + 1]);
}

}  // namespace moerec::convert::testing

#endif  // MOEREC_DATA_CONVERT_INTERNAL_TEST_UTIL_H_
