#include "data/convert/internal/text.h"

#include <gtest/gtest.h>

#include "core/random.h"
#include "data/convert/internal/test_util.h"
#include "data/test_util.h"

namespace moerec::convert {
namespace {

using Fields = std::vector<std::string_view>;

TEST(SplitPlain, KeepsEmptyFieldsAndMultiByteDelimiters) {
  Fields f;
  SplitPlain("a,,b,", ",", &f);
  EXPECT_EQ(f, (Fields{"a", "", "b", ""}));
  SplitPlain("1::Toy Story (1995)::Animation|Comedy", "::", &f);
  EXPECT_EQ(f, (Fields{"1", "Toy Story (1995)", "Animation|Comedy"}));
  SplitPlain("", "\t", &f);
  EXPECT_EQ(f, (Fields{""}));
}

TEST(SplitQuoted, UnescapesQuotedFields) {
  Fields f;
  std::vector<std::string> storage;
  EXPECT_EQ(SplitQuoted(R"(1,"a, b","say ""hi""",,x"y)", ",", '"', &f, &storage), "");
  EXPECT_EQ(f, (Fields{"1", "a, b", "say \"hi\"", "", "x\"y"}));
  EXPECT_EQ(SplitQuoted(R"("",")", ",", '"', &f, &storage), "field 2: unterminated quote");
  EXPECT_EQ(SplitQuoted(R"(1,"a"b,2)", ",", '"', &f, &storage),
            "field 2: text after the closing quote");
  EXPECT_EQ(SplitQuoted(R"("a",)", ",", '"', &f, &storage), "");
  EXPECT_EQ(f, (Fields{"a", ""}));
}

TEST(ParseNumbers, AreStrict) {
  EXPECT_EQ(ParseInt64("-42"), -42);
  EXPECT_FALSE(ParseInt64("42 "));
  EXPECT_FALSE(ParseInt64("+1"));
  EXPECT_FALSE(ParseInt64("1.0"));
  EXPECT_FALSE(ParseInt64("99999999999999999999"));
  EXPECT_EQ(ParseUint64("18446744073709551615"), 18446744073709551615ull);
  EXPECT_FALSE(ParseUint64("-1"));
  EXPECT_FALSE(ParseUint64(""));
  EXPECT_EQ(ParseDouble("+2.5"), 2.5);
  EXPECT_EQ(ParseDouble("1e3"), 1000.0);
  EXPECT_FALSE(ParseDouble("nan"));
  EXPECT_FALSE(ParseDouble("inf"));
  EXPECT_FALSE(ParseDouble("1e999"));
  EXPECT_FALSE(ParseDouble("3x"));
}

TEST(HashString, IsFnv1aThenMix64) {
  // FNV-1a 64 reference values: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c.
  EXPECT_EQ(HashString(""), Mix64(0xcbf29ce484222325ULL));
  EXPECT_EQ(HashString("a"), Mix64(0xaf63dc4c8601ec8cULL));
  EXPECT_NE(HashString("ab"), HashString("ba"));
}

TEST(LineReader, CountsLinesAndStripsTerminators) {
  moerec::testing::TempDir dir;
  testing::WriteText(dir.file("f"), "a\r\n\nb\xe9\nlast");
  auto reader = LineReader::Open(dir.file("f"));
  ASSERT_TRUE(reader.ok());
  std::vector<std::string> lines;
  std::string_view line;
  while (*(*reader)->Next(&line)) lines.emplace_back(line);
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "", "b\xe9", "last"}));
  EXPECT_EQ((*reader)->line_number(), 4);
  EXPECT_EQ((*reader)->Where(), dir.file("f") + ":4");
  EXPECT_EQ(LineReader::Open(dir.file("missing")).status().code(), StatusCode::kNotFound);
}

// The share of a pass: bytes of the lines read (terminators included) over the files' sizes.
TEST(PassShare, CountsTheLinesReadOverEveryFile) {
  moerec::testing::TempDir dir;
  testing::WriteText(dir.file("a"), "12345\r\n6789\n");  // 12 bytes
  testing::WriteText(dir.file("b"), "ab\ncd");           // 5 bytes, no last terminator
  PassShare share({dir.file("a"), dir.file("b"), dir.file("missing")});
  EXPECT_EQ(share.Share(nullptr), 0.0);
  std::string_view line;
  auto a = LineReader::Open(dir.file("a")).value();
  ASSERT_TRUE(*a->Next(&line));
  EXPECT_EQ(a->bytes_read(), 7);
  EXPECT_DOUBLE_EQ(share.Share(a.get()), 7.0 / 17);
  while (*a->Next(&line)) {
  }
  share.Finished(*a);
  auto b = LineReader::Open(dir.file("b")).value();
  ASSERT_TRUE(*b->Next(&line));
  EXPECT_DOUBLE_EQ(share.Share(b.get()), 15.0 / 17);
  ASSERT_TRUE(*b->Next(&line));
  EXPECT_EQ(share.Share(b.get()), 1.0);
  share.Rewind();
  EXPECT_EQ(share.Share(nullptr), 0.0);
  EXPECT_EQ(PassShare({dir.file("missing")}).Share(nullptr), -1.0);
}

TEST(Quote, EscapesBytes) {
  EXPECT_EQ(Quote("ab"), "'ab'");
  EXPECT_EQ(Quote("\xe9\t"), "'\\xe9\\x09'");
}

}  // namespace
}  // namespace moerec::convert
