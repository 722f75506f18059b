// Fuzzes the CSV/TSV converter (data/convert/convert.h RunConvert on a `csv` input): the input is
// the CSV file of a fixed mapping (domain, user, two tasks, an id slot, a string multi-id slot, a
// dense column; the first input byte picks comma or tab). Bad rows are skipped within a large
// budget, so that every row reaches the field parsers; any file converts or gives a Status.
#include <filesystem>

#include "data/convert/convert.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr char kConfig[] = R"(
csv {
  files: "in.csv"
  delimiter: "%s"
  domain_column: "tab"
  domain_groups { name: "home_tab" values: "home" }
  domain_groups { name: "feed_tab" values: "feed" values: "feed2" }
  user_column: "uid"
  tasks { name: "click" column: "clicked" }
  tasks { name: "like" column: "rating" op: GE threshold: 5 }
  slots { name: "item" column: "item" side: SIDE_ITEM }
  slots { name: "tags" column: "tags" separator: "|" id_type: STRING pooling: POOLING_MEAN }
  dense { column: "price" missing_value: -1 log1p: true }
}
split { train: 0.8 validation: 0.1 test: 0.1 seed: 5 }
bad_row_budget: 1000000
output_dir: "out"
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  if (size == 0) return 0;
  const bool tab = data[0] & 1;
  fuzz::WriteInput("in.csv", fuzz::AsView(data + 1, size - 1));
  char text[sizeof(kConfig) + 8];
  std::snprintf(text, sizeof(text), kConfig, tab ? "\\t" : ",");
  auto config = ParseConvertConfig(text, "csv.pbtxt", fuzz::Scratch().path());
  if (!config.ok()) std::abort();  // the fixed config is valid
  std::error_code ec;
  std::filesystem::remove_all(fuzz::Scratch().file("out"), ec);
  (void)RunConvert(*config);
  return 0;
}
