// Small files in the raw Ali-CCP layout, written by the tests (the real data may not be
// redistributed). Each part has kAliCcpUsers common-feature rows and its own samples; everything
// derives from (part, sample index), so a test can recompute what a sample holds.
//
// Common row u of a part: 101 (user id), 124 (gender), 109_14 with u % 4 ids (none for u = 0: a
// missing multi-valued field), 150_14 for u = 1 only. Sample i: 205 (item id), 206, 216 (absent
// when i % 4 == 1), 210 with i % 3 ids, 301 (one of three scenario ids), joined to common row
// i % kAliCcpUsers; click on odd i not divisible by 3, conversion on clicks with i % 4 == 1.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_ALICCP_FIXTURE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_ALICCP_FIXTURE_H_

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/random.h"
#include "data/convert/internal/test_util.h"

namespace moerec::convert::testing {

inline constexpr int kAliCcpUsers = 6;
inline constexpr int kAliCcpSamples[2] = {36, 9};                             // train, test
inline constexpr uint64_t kAliCcpScenarios[3] = {9351670, 9351665, 9351666};  // not sorted

// part 0 = train, 1 = test.
inline std::string AliCcpCommonIndex(int part, int user) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(Mix64(uint64_t(part) * 100 + user)));
  return hex;
}
inline uint64_t AliCcpUserId(int part, int user) { return 10000 + part * 100 + user; }
inline int AliCcpUserOf(int sample) { return sample % kAliCcpUsers; }
inline uint64_t AliCcpItemId(int part, int sample) { return 50000 + part * 1000 + sample; }
inline uint64_t AliCcpScenario(int sample) { return kAliCcpScenarios[sample % 3]; }
inline int AliCcpClick(int sample) { return sample % 2 == 1 && sample % 3 != 0; }
inline int AliCcpConversion(int sample) { return AliCcpClick(sample) && sample % 4 == 1; }

// (field, feature id) entries of a common row / a sample, in file order.
using AliCcpEntries = std::vector<std::pair<std::string, uint64_t>>;
inline AliCcpEntries AliCcpCommonEntries(int part, int u) {
  AliCcpEntries e = {{"101", AliCcpUserId(part, u)}, {"124", uint64_t(300 + u % 2)}};
  for (int j = 0; j < u % 4; ++j) e.push_back({"109_14", uint64_t(40000 + u * 10 + j)});
  if (u == 1) e.push_back({"150_14", 45001});
  return e;
}
inline AliCcpEntries AliCcpSampleEntries(int part, int i) {
  AliCcpEntries e = {{"205", AliCcpItemId(part, i)}, {"206", uint64_t(60000 + i % 5)}};
  if (i % 4 != 1) e.push_back({"216", uint64_t(70000 + i % 7)});
  for (int j = 0; j < i % 3; ++j) e.push_back({"210", uint64_t(80000 + i * 10 + j)});
  e.push_back({"301", AliCcpScenario(i)});
  return e;
}
// The ids a sample's slot over `fields` holds: the sample's own entries, then its common row's.
inline std::vector<uint64_t> AliCcpSlotIds(int part, int i,
                                           const std::vector<std::string>& fields) {
  std::vector<uint64_t> ids;
  for (const AliCcpEntries& list :
       {AliCcpSampleEntries(part, i), AliCcpCommonEntries(part, AliCcpUserOf(i))}) {
    for (const auto& [field, id] : list) {
      for (const std::string& f : fields) {
        if (f == field) ids.push_back(id);
      }
    }
  }
  return ids;
}

inline std::string AliCcpFeatureList(const AliCcpEntries& entries) {
  std::string s;
  for (size_t k = 0; k < entries.size(); ++k) {
    if (k > 0) s += '\x01';
    // Values as the dataset writes them: 1.0 for most, a log count for behaviour fields.
    const char* value = entries[k].first == "109_14" ? "2.30259" : "1.0";
    s += entries[k].first + '\x02' + std::to_string(entries[k].second) + '\x03' + value;
  }
  return s;
}

inline std::string AliCcpCommonFile(int part) {
  std::string s;
  for (int u = 0; u < kAliCcpUsers; ++u) {
    const AliCcpEntries e = AliCcpCommonEntries(part, u);
    s += AliCcpCommonIndex(part, u) + "," + std::to_string(e.size()) + "," + AliCcpFeatureList(e) +
         "\n";
  }
  return s;
}

inline std::string AliCcpSkeletonFile(int part) {
  std::string s;
  for (int i = 0; i < kAliCcpSamples[part]; ++i) {
    const AliCcpEntries e = AliCcpSampleEntries(part, i);
    s += std::to_string(part * 1000 + i + 1) + "," + std::to_string(AliCcpClick(i)) + "," +
         std::to_string(AliCcpConversion(i)) + "," + AliCcpCommonIndex(part, AliCcpUserOf(i)) +
         "," + std::to_string(e.size()) + "," + AliCcpFeatureList(e) + "\n";
  }
  return s;
}

inline void WriteAliCcp(const std::string& dir) {
  WriteText(dir + "/common_features_train.csv", AliCcpCommonFile(0));
  WriteText(dir + "/sample_skeleton_train.csv", AliCcpSkeletonFile(0));
  WriteText(dir + "/common_features_test.csv", AliCcpCommonFile(1));
  WriteText(dir + "/sample_skeleton_test.csv", AliCcpSkeletonFile(1));
}

}  // namespace moerec::convert::testing

#endif  // MOEREC_DATA_CONVERT_INTERNAL_ALICCP_FIXTURE_H_
