// Loading and validating ConvertConfig: syntax errors carry file:line:column, field errors name
// the field and what is allowed.
#include <gtest/gtest.h>

#include "data/convert/convert.h"
#include "data/convert/internal/test_util.h"
#include "data/test_util.h"

namespace moerec {
namespace {

constexpr char kValid[] = R"(
csv { files: "a.csv" tasks { name: "click" column: "c" } slots { name: "s" column: "x" } }
output_dir: "out"
)";

std::string Error(const std::string& text) {
  auto config = ParseConvertConfig(text, "c.pbtxt", "");
  return config.ok() ? "OK" : config.status().message();
}

TEST(ConvertConfig, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("csv {\n  files: \"a\"\n  delimter: \",\"\n}\n"),
            "c.pbtxt:3:11: Message type \"moerec.CsvInput\" has no field named \"delimter\".");
  EXPECT_EQ(Error("split { method: SOMETIMES }"),
            "c.pbtxt:1:27: Unknown enumeration value of \"SOMETIMES\" for field \"method\".");
}

TEST(ConvertConfig, FieldErrorsNameTheFieldAndTheAllowedValues) {
  EXPECT_EQ(Error(kValid), "OK");
  const std::pair<std::string, std::string> cases[] = {
      {"output_dir: \"o\"",
       "c.pbtxt: input: set one of csv { ... }, movielens { ... } or aliccp { ... }"},
      {std::string(kValid) + "split { train: 0.8 validation: 0.1 test: 0.2 }",
       "c.pbtxt: split: train + validation + test = 1.100000; must be 1"},
      {std::string(kValid) + "split { per_domain: true }", "c.pbtxt: split.per_domain: applies to"},
      {std::string(kValid) + "split { method: BY_TIME }",
       "c.pbtxt: split.method: BY_TIME needs csv.time_column"},
      {std::string(kValid) + "bad_row_budget: -1", "c.pbtxt: bad_row_budget: must be >= 0"},
      {"csv { files: \"a\" slots { name: \"s\" column: \"x\" } } output_dir: \"o\"",
       "c.pbtxt: csv.tasks: at least one task is required"},
      {"csv { files: \"a\" tasks { name: \"a/b\" column: \"c\" } slots { name: \"s\" column: "
       "\"x\" } } output_dir: \"o\"",
       "c.pbtxt: csv.tasks[0].name: 'a/b' must not contain '/'"},
      {"csv { files: \"a\" tasks { name: \"t\" column: \"c\" } } output_dir: \"o\"",
       "c.pbtxt: csv.slots: the data has no features"},
      {"csv { files: \"a\" quote: \"|\" delimiter: \"|\" tasks { name: \"t\" column: \"c\" } "
       "dense { column: \"d\" } } output_dir: \"o\"",
       "c.pbtxt: csv.quote: must not appear in csv.delimiter"},
      {"csv { files: \"a\" domain_column: \"d\" tasks { name: \"t\" column: \"c\" } dense { "
       "column: \"d\" } } output_dir: \"o\"",
       "c.pbtxt: csv.num_domains: required (>= 1) for a numeric domain column"},
      {"csv { files: \"a\" tasks { name: \"t\" column: \"c\" } slots { name: \"s\" column: \"x\" "
       "} slots { name: \"s\" column: \"y\" } } output_dir: \"o\"",
       "c.pbtxt: csv.slots[1].name: 's' names two slots"},
      {"movielens { dir: \"d\" tasks { name: \"t\" } } output_dir: \"o\"",
       "c.pbtxt: movielens.tasks[0].op: required for MovieLens ratings: one of GT, GE, EQ, LE, "
       "LT, NE"},
      {"movielens { dir: \"d\" tasks { name: \"t\" op: GT threshold: 3 } domain { field: AGE "
       "groups { name: \"a\" values: [\"1\", \"17\"] } } } output_dir: \"o\"",
       "c.pbtxt: movielens.domain.groups[0].values[1]: '17' is not a valid AGE value for ML_1M "
       "(allowed: 1, 18, 25, 35, 45, 50, 56)"},
      {"movielens { layout: ML_100K dir: \"d\" tasks { name: \"t\" op: GT threshold: 3 } domain "
       "{ field: OCCUPATION groups { name: \"a\" values: \"7\" } } } output_dir: \"o\"",
       "c.pbtxt: movielens.domain.groups[0].values[0]: '7' is not a valid OCCUPATION value for "
       "ML_100K "
       "(allowed: administrator, artist,"},
      {"movielens { dir: \"d\" tasks { name: \"t\" op: GT threshold: 3 } domain { field: GENDER "
       "groups { name: \"a\" values: \"F\" } groups { name: \"b\" values: \"F\" } } } "
       "output_dir: \"o\"",
       "c.pbtxt: movielens.domain.groups[1].values[0]: 'F' is in two groups"},
      // Split files, folder domains, joins.
      {"csv { files: \"a\" domain_from_folder: true tasks { name: \"t\" column: \"c\" } "
       "dense { column: \"d\" } } output_dir: \"o\"",
       "c.pbtxt: csv.domain_groups: required with domain_from_folder"},
      {"csv { files: \"a\" domain_from_folder: true domain_column: \"x\" domain_groups { name: "
       "\"g\" values: \"f\" } tasks { name: \"t\" column: \"c\" } dense { column: \"d\" } } "
       "output_dir: \"o\"",
       "c.pbtxt: csv.domain_from_folder: not with csv.domain_column"},
      {"csv { files: \"a\" drop_unmatched: true tasks { name: \"t\" column: \"c\" } dense { "
       "column: \"d\" } } output_dir: \"o\"",
       "c.pbtxt: csv.drop_unmatched: needs csv.domain_column and csv.domain_groups"},
      {"csv { files: \"a\" joins { file: \"u.csv\" } tasks { name: \"t\" column: \"c\" } "
       "dense { column: \"d\" } } output_dir: \"o\"",
       "c.pbtxt: csv.joins[0].key: required: the key column of csv.files"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } } output_dir: \"o\" "
       "split { method: BY_FILE train: 0.9 }",
       "c.pbtxt: split.train: not used with BY_FILE (the files decide; split.validation is the "
       "share of the train files' rows moved to validation)"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } } output_dir: \"o\" "
       "split { method: BY_FILE validation: 1 }",
       "c.pbtxt: split.validation: must be in [0, 1) with BY_FILE"},
      {"movielens { dir: \"d\" tasks { name: \"t\" op: GT threshold: 3 } } output_dir: \"o\" "
       "split { method: BY_FILE }",
       "c.pbtxt: split.method: BY_FILE needs an input with split files"},
      // Ali-CCP.
      {"aliccp { tasks { name: \"t\" column: \"click\" } } output_dir: \"o\"",
       "c.pbtxt: aliccp.dir: required"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"buy\" } } output_dir: \"o\"",
       "c.pbtxt: aliccp.tasks[0].column: 'buy' is not an Ali-CCP label (allowed: click, "
       "conversion)"},
      {"aliccp { dir: \"d\" parts: [TRAIN, TRAIN] tasks { name: \"t\" column: \"click\" } } "
       "output_dir: \"o\"",
       "c.pbtxt: aliccp.parts[1]: TRAIN is listed twice"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } slots { name: \"s\" "
       "fields: \"999\" } } output_dir: \"o\"",
       "c.pbtxt: aliccp.slots[0].fields[0]: '999' is not an Ali-CCP field (allowed: 101, "
       "109_14,"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } slots { name: \"a\" "
       "fields: \"205\" } slots { name: \"b\" fields: [\"206\", \"205\"] } } output_dir: "
       "\"o\"",
       "c.pbtxt: aliccp.slots[1].fields[1]: field 205 is in two slots"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } domain_groups { name: "
       "\"a\" values: \"x1\" } } output_dir: \"o\"",
       "c.pbtxt: aliccp.domain_groups[0].values[0]: 'x1' is not a feature id (decimal digits) of "
       "301"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } drop_unmatched: true } "
       "output_dir: \"o\"",
       "c.pbtxt: aliccp.drop_unmatched: needs domain_groups"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } field_separator: "
       "\"\\001\" } output_dir: \"o\"",
       "c.pbtxt: aliccp.entry_separator: appears in aliccp.field_separator; the three must "
       "differ"},
      {"aliccp { dir: \"d\" tasks { name: \"t\" column: \"click\" } } output_dir: \"o\" "
       "split { method: BY_TIME }",
       "c.pbtxt: split.method: BY_TIME needs a time; Ali-CCP samples have none"},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_TRUE(Error(text).starts_with(want)) << "got:  " << Error(text) << "\nwant: " << want;
  }
}

TEST(ConvertConfig, LoadResolvesPathsAgainstTheConfigFolder) {
  moerec::testing::TempDir dir;
  convert::testing::WriteText(dir.file("conf/c.pbtxt"),
                              "csv { files: \"data/a.csv\" files: \"/abs/b.csv\" tasks { name: "
                              "\"t\" column: \"c\" } dense { column: \"d\" } }\noutput_dir: "
                              "\"../out\"\n");
  auto config = LoadConvertConfig(dir.file("conf/c.pbtxt"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->csv().files(0), dir.file("conf/data/a.csv"));
  EXPECT_EQ(config->csv().files(1), "/abs/b.csv");
  EXPECT_EQ(config->output_dir(), dir.file("out"));
  EXPECT_EQ(LoadConvertConfig(dir.file("none.pbtxt")).status().code(), StatusCode::kNotFound);
}

TEST(ConvertConfig, AnOutputFolderHoldingAnInputIsRefused) {
  moerec::testing::TempDir dir;
  const std::string head = "csv { files: \"" + dir.path() +
                           "/data/in.csv\" tasks { name: \"t\" column: \"c\" } dense { "
                           "column: \"d\" } }\noutput_dir: ";
  for (const std::string& out :
       {dir.path() + "/data", dir.path() + "/data/", dir.path(), dir.path() + "/data/../data"}) {
    auto config = ParseConvertConfig(head + "\"" + out + "\"\n", "c.pbtxt", "");
    ASSERT_FALSE(config.ok()) << out;
    EXPECT_NE(config.status().message().find("holds the input " + dir.path() + "/data/in.csv"),
              std::string::npos)
        << config.status();
  }
  EXPECT_TRUE(ParseConvertConfig(head + "\"" + dir.path() + "/out\"\n", "c.pbtxt", "").ok());
  EXPECT_TRUE(ParseConvertConfig(head + "\"" + dir.path() + "/data-out\"\n", "c.pbtxt", "").ok())
      << "a sibling whose name starts like the input's folder is not inside it";
}

}  // namespace
}  // namespace moerec
