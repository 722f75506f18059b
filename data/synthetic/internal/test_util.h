// Helpers of the synthetic data tests: a split read back whole, the bytes of generated files.
// Test-only (header-only, linked into no library).
#ifndef MOEREC_DATA_SYNTHETIC_INTERNAL_TEST_UTIL_H_
#define MOEREC_DATA_SYNTHETIC_INTERNAL_TEST_UTIL_H_

#include <glog/logging.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "data/batch.h"
#include "data/reader.h"

namespace moerec::testing {

// Every sample of a folder of shards, in file order.
inline Batch ReadSplit(const std::string& dir) {
  DataReader::Options o;
  o.batch_size = 1 << 20;
  auto r = DataReader::Open({dir}, o);
  CHECK(r.ok()) << r.status().ToString();
  CHECK((*r)->StartEpoch(0).ok());
  Batch all, b;
  while ((*r)->Next(&b).value()) all.AppendFrom(b, 0, b.size);
  return all;
}

// Bytes of every file in the folders directly under `root`, by "<folder>/<file>".
inline std::map<std::string, std::string> FileBytes(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& folder : std::filesystem::directory_iterator(root)) {
    if (!folder.is_directory()) continue;
    for (const auto& f : std::filesystem::directory_iterator(folder.path())) {
      std::ifstream in(f.path(), std::ios::binary);
      out[folder.path().filename().string() + "/" + f.path().filename().string()] =
          std::string(std::istreambuf_iterator<char>(in), {});
    }
  }
  return out;
}

}  // namespace moerec::testing

#endif  // MOEREC_DATA_SYNTHETIC_INTERNAL_TEST_UTIL_H_
