#include "worker/metrics/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace moerec {
namespace {

TEST(JsonTest, BuildsNestedObjects) {
  JsonArray array;
  array.Append(1).Append("two").Append(3.5).Append(false).Append(nullptr);
  JsonObject inner;
  inner.Add("k", "v");
  array.Append(inner);
  JsonObject object;
  object.Add("step", 12)
      .Add("big", uint64_t{18446744073709551615ull})
      .Add("neg", int64_t{-5})
      .Add("ok", true)
      .Add("name", std::string("run"))
      .AddNull("none")
      .Add("list", array)
      .Add("inner", inner)
      .Add("empty", JsonObject());
  EXPECT_EQ(object.ToString(),
            R"({"step":12,"big":18446744073709551615,"neg":-5,"ok":true,"name":"run",)"
            R"("none":null,"list":[1,"two",3.5,false,null,{"k":"v"}],"inner":{"k":"v"},)"
            R"("empty":{}})");
  EXPECT_EQ(object.size(), 9u);
  EXPECT_EQ(JsonArray().ToString(), "[]");
}

TEST(JsonTest, EscapesStrings) {
  JsonObject object;
  object.Add("a\"b", "quote\" back\\ nl\n tab\t cr\r bell\x07 del\x7f \xc3\xa9");
  EXPECT_EQ(object.ToString(),
            "{\"a\\\"b\":\"quote\\\" back\\\\ nl\\n tab\\t cr\\r bell\\u0007 del\x7f \xc3\xa9\"}");
  JsonObject nul;
  nul.Add("z", std::string_view("a\0b", 3));
  EXPECT_EQ(nul.ToString(), "{\"z\":\"a\\u0000b\"}");
}

TEST(JsonTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  JsonObject object;
  // Valid 2-, 3- and 4-byte sequences stay; a stray continuation byte, 0xff, an overlong "/",
  // a surrogate and a sequence cut off at the end do not.
  object.Add("s", std::string("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x80 \xff \xc0\xaf "
                              "\xed\xa0\x80 \xe2\x82"));
  EXPECT_EQ(object.ToString(),
            "{\"s\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\ufffd \\ufffd \\ufffd\\ufffd "
            "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\"}");
}

TEST(JsonTest, NonFiniteDoublesAreNull) {
  JsonObject object;
  object.Add("nan", std::numeric_limits<double>::quiet_NaN())
      .Add("inf", std::numeric_limits<double>::infinity())
      .Add("ninf", -std::numeric_limits<float>::infinity());
  EXPECT_EQ(object.ToString(), R"({"nan":null,"inf":null,"ninf":null})");
  JsonArray array;
  array.Append(std::nan(""));
  EXPECT_EQ(array.ToString(), "[null]");
}

TEST(JsonTest, DoublesRoundTripAndStayFloatingPoint) {
  JsonArray whole;
  whole.Append(1.0).Append(-0.0).Append(1e300).Append(0.1).Append(1e-7);
  EXPECT_EQ(whole.ToString(), "[1.0,-0.0,1e+300,0.1,1e-07]");

  std::mt19937_64 rng(9);
  for (int i = 0; i < 2000; ++i) {
    double value;
    do {
      const uint64_t bits = rng();
      std::memcpy(&value, &bits, sizeof(value));
    } while (!std::isfinite(value));
    JsonArray array;
    array.Append(value);
    const std::string text = array.ToString();
    const double back = std::strtod(text.c_str() + 1, nullptr);
    EXPECT_EQ(back, value) << text;
  }
}

}  // namespace
}  // namespace moerec
