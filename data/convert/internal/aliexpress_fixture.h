// Small files in the AliExpress layout of the multi-task benchmarks (AITM, MTReclib): one folder
// per country, AliExpress_<CC>/{train,test}.csv, with the header search_id, categorical_1..16,
// numerical_1..63, click, conversion. Written by the tests (the real data may not be
// redistributed). Every cell derives from (country, file, row), so tests can recompute a sample.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_ALIEXPRESS_FIXTURE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_ALIEXPRESS_FIXTURE_H_

#include <cstdint>
#include <string>

#include "data/convert/internal/test_util.h"

namespace moerec::convert::testing {

inline constexpr int kAliExpressCategorical = 16;
inline constexpr int kAliExpressNumerical = 63;
inline constexpr const char* kAliExpressCountries[] = {"NL", "ES", "FR", "US", "RU"};
// Rows of country c: train 6 + c, test 3.
inline int AliExpressRows(int country, bool test) { return test ? 3 : 6 + country; }

// search_id: unique over all files; it is the GAUC key.
inline uint64_t AliExpressSearchId(int country, bool test, int row) {
  return 700000 + country * 1000 + (test ? 500 : 0) + row;
}
inline uint64_t AliExpressCategorical(int country, int row, int k) {
  return (row * (k + 1) + country) % 11;
}
// numerical_k (0-based k): k / 8 + row / 64, exact in binary and in "%f" text.
inline float AliExpressNumerical(int row, int k) { return k / 8.0f + row / 64.0f; }
inline int AliExpressClick(int country, int row) { return (row + country) % 3 == 0; }
inline int AliExpressConversion(int country, int row) {
  return AliExpressClick(country, row) && row % 2 == 0;
}

inline std::string AliExpressHeader() {
  std::string h = "search_id";
  for (int k = 1; k <= kAliExpressCategorical; ++k) h += ",categorical_" + std::to_string(k);
  for (int k = 1; k <= kAliExpressNumerical; ++k) h += ",numerical_" + std::to_string(k);
  return h + ",click,conversion\n";
}

inline std::string AliExpressRow(int country, bool test, int row) {
  std::string s = std::to_string(AliExpressSearchId(country, test, row));
  for (int k = 0; k < kAliExpressCategorical; ++k) {
    s += "," + std::to_string(AliExpressCategorical(country, row, k));
  }
  for (int k = 0; k < kAliExpressNumerical; ++k) {
    s += "," + std::to_string(AliExpressNumerical(row, k));
  }
  return s + "," + std::to_string(AliExpressClick(country, row)) + "," +
         std::to_string(AliExpressConversion(country, row)) + "\n";
}

inline void WriteAliExpress(const std::string& dir) {
  for (int c = 0; c < 5; ++c) {
    for (const bool test : {false, true}) {
      std::string text = AliExpressHeader();
      for (int r = 0; r < AliExpressRows(c, test); ++r) text += AliExpressRow(c, test, r);
      WriteText(
          dir + "/AliExpress_" + kAliExpressCountries[c] + (test ? "/test.csv" : "/train.csv"),
          text);
    }
  }
}

}  // namespace moerec::convert::testing

#endif  // MOEREC_DATA_CONVERT_INTERNAL_ALIEXPRESS_FIXTURE_H_
