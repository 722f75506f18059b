#include "worker/metrics/json_reader.h"

#include <gtest/gtest.h>

#include <cmath>

#include "worker/metrics/json.h"

namespace moerec {
namespace {

TEST(JsonReaderTest, ReadsWhatJsonObjectWrites) {
  JsonArray loads;
  loads.Append(0.25).Append(int64_t{3}).Append(nullptr);
  JsonObject line;
  line.Add("event", "train")
      .Add("step", int64_t{50})
      .Add("loss", 0.5)
      .Add("ok", true)
      .Add("name", "a \"q\"\n\\ é")
      .Add("nan", std::nan(""))
      .Add("loads", loads);
  const StatusOr<JsonValue> parsed = JsonValue::Parse(line.ToString());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const JsonValue& v = *parsed;
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.StringOr("event", ""), "train");
  EXPECT_EQ(v.NumberOr("step", -1), 50);
  EXPECT_EQ(v.NumberOr("loss", -1), 0.5);
  EXPECT_TRUE(v.Find("ok")->boolean());
  EXPECT_EQ(v.Find("name")->string(), "a \"q\"\n\\ é");
  EXPECT_TRUE(v.Find("nan")->is_null());
  ASSERT_EQ(v.Find("loads")->array().size(), 3u);
  EXPECT_EQ(v.Find("loads")->array()[1].number(), 3);
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(v.NumberOr("event", 7), 7);  // not a number
}

TEST(JsonReaderTest, NumbersEscapesAndNesting) {
  const StatusOr<JsonValue> parsed =
      JsonValue::Parse(R"( {"a": -1.5e3, "b": [ {}, [] ], "c": "\u00e9\ud83d\ude00"} )");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const JsonValue& v = *parsed;
  EXPECT_EQ(v.NumberOr("a", 0), -1500);
  EXPECT_TRUE(v.Find("b")->array()[0].is_object());
  EXPECT_TRUE(v.Find("b")->array()[1].is_array());
  EXPECT_EQ(v.Find("c")->string(), "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(JsonReaderTest, RefusesBadTextNamingTheByte) {
  for (const char* bad : {"", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "01x", "\"abc", "{\"a\":1} x",
                          "-", "1.", "tru", "\"\\q\""}) {
    StatusOr<JsonValue> v = JsonValue::Parse(bad);
    EXPECT_FALSE(v.ok()) << bad;
    if (!v.ok()) {
      EXPECT_NE(v.status().message().find("JSON at byte"), std::string::npos) << bad;
    }
  }
  StatusOr<JsonValue> deep = JsonValue::Parse(std::string(100, '[') + std::string(100, ']'));
  EXPECT_FALSE(deep.ok());
}

}  // namespace
}  // namespace moerec
