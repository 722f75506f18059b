// Fuzzes the MovieLens converter (data/convert/convert.h RunConvert on a `movielens` input): the
// first input byte picks the layout (1M: ratings.dat, users.dat, movies.dat; 100K: u.data,
// u.user, u.item), the rest is the three files separated by form feeds ('\f'). Bad rows are
// skipped within a large budget; any files convert or give a Status.
#include <filesystem>
#include <vector>

#include "data/convert/convert.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr char kConfig1M[] = R"(
movielens {
  layout: ML_1M dir: "ml"
  domain { field: AGE groups { name: "young" values: ["1", "18"] }
                      groups { name: "old" values: ["25", "35", "45", "50", "56"] } }
  tasks { name: "click" op: GT threshold: 3 }
}
split { train: 0.8 validation: 0.1 test: 0.1 seed: 11 }
bad_row_budget: 1000000
output_dir: "out"
)";

constexpr char kConfig100K[] = R"(
movielens {
  layout: ML_100K dir: "ml"
  domain { field: GENDER groups { name: "f" values: "F" } groups { name: "m" values: "M" } }
  tasks { name: "click" op: GT threshold: 3 }
  tasks { name: "like" op: GT threshold: 4 }
}
split { train: 0.8 validation: 0.1 test: 0.1 seed: 11 }
bad_row_budget: 1000000
output_dir: "out"
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  if (size == 0) return 0;
  const bool one_million = data[0] & 1;
  std::vector<std::string_view> parts;
  std::string_view rest = fuzz::AsView(data + 1, size - 1);
  for (int i = 0; i < 2; ++i) {
    const size_t cut = rest.find('\f');
    parts.push_back(rest.substr(0, cut));
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
  }
  parts.push_back(rest);
  std::error_code ec;
  std::filesystem::remove_all(fuzz::Scratch().file("ml"), ec);
  std::filesystem::create_directories(fuzz::Scratch().file("ml"), ec);
  const char* names_1m[3] = {"ml/ratings.dat", "ml/users.dat", "ml/movies.dat"};
  const char* names_100k[3] = {"ml/u.data", "ml/u.user", "ml/u.item"};
  for (int i = 0; i < 3; ++i) {
    fuzz::WriteInput(one_million ? names_1m[i] : names_100k[i], parts[i]);
  }
  auto config = ParseConvertConfig(one_million ? kConfig1M : kConfig100K, "movielens.pbtxt",
                                   fuzz::Scratch().path());
  if (!config.ok()) std::abort();  // the fixed configs are valid
  std::filesystem::remove_all(fuzz::Scratch().file("out"), ec);
  (void)RunConvert(*config);
  return 0;
}
