// moerec convert: CSV/TSV files (with joined side tables, e.g. KuaiRand; per-folder domains and
// split files, e.g. AliExpress), the MovieLens 100K / 1M layouts and the raw Ali-CCP layout to
// moerec shards.
//
// A ConvertConfig (proto/convert.proto) names the input and its mapping to samples (domain,
// tasks, user, sparse slots, dense features), the train/validation/test split and the output
// directory. RunConvert streams the input once (twice for splits that need exact counts),
// writes <out>/{train,validation,test}/part-NNNNN.mrs, a data.pbtxt DataConfig to paste into a
// job config, and summary.txt; the output appears under output_dir only when complete.
//
// Bad rows are judged against bad_row_budget: skipped with a warning naming file:line and the
// field while the budget lasts, then the conversion stops with that row's InvalidArgument.
// Config errors name the field and the allowed values. Functions are thread-compatible: they
// share no state, so distinct calls may run concurrently on distinct outputs.
#ifndef MOEREC_DATA_CONVERT_CONVERT_H_
#define MOEREC_DATA_CONVERT_CONVERT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "proto/config.pb.h"
#include "proto/convert.pb.h"

namespace moerec {

// What a conversion read and wrote. Per-split arrays are indexed 0 train, 1 validation, 2 test.
struct ConvertSummary {
  std::vector<std::string> domain_names;  // D
  std::vector<std::string> task_names;    // T
  int64_t rows_read = 0;     // data rows of the main input (ratings for MovieLens), bad included
  int64_t bad_rows = 0;      // rows skipped as bad, in every file (users/items files included)
  int64_t rows_dropped = 0;  // rows left out on purpose (MovieLens: user in no domain, or a
                             // user/movie whose own row was bad)
  std::vector<std::string> bad_row_examples;      // the first few bad-row messages
  std::array<std::vector<int64_t>, 3> samples;    // [split][domain]
  std::array<std::vector<int64_t>, 3> observed;   // [split][domain * T + task] labels present
  std::array<std::vector<int64_t>, 3> positives;  // [split][domain * T + task] labels == 1
  int64_t shards = 0;
  std::string output_dir;        // absolute
  std::string data_config_path;  // <output_dir>/data.pbtxt
  DataConfig data_config;        // its contents
  double seconds = 0;

  int64_t split_samples(int split) const;
  int64_t total_samples() const;
};

// Parses a ConvertConfig in protobuf text format. Syntax errors name `source_name`:line:column.
// Relative paths in the config (csv.files, csv.validation_files, csv.test_files,
// csv.joins[].file, movielens.dir, aliccp.dir, output_dir) are taken relative to
// `base_dir` (unchanged when it is empty). The result is validated.
StatusOr<ConvertConfig> ParseConvertConfig(const std::string& text, const std::string& source_name,
                                           const std::string& base_dir);
// Reads and parses a config file; relative paths are relative to the file's directory.
StatusOr<ConvertConfig> LoadConvertConfig(const std::string& path);
// Checks every field; InvalidArgument naming the field and the allowed values.
Status ValidateConvertConfig(const ConvertConfig& config);

// Runs the conversion (validating the config first). `origin` (e.g. the config path) is named
// in the data.pbtxt comment.
// `progress`, when given, is called now and then with the rows written so far, the total (0
// while unknown: known after a counting pass, which splits by exact counts make) and the share
// of the input read (in [0, 1]; -1 when the source cannot tell); the last call, when every row
// is written, has done == total.
using ConvertProgress = std::function<void(int64_t done, int64_t total, double input_share)>;
StatusOr<ConvertSummary> RunConvert(const ConvertConfig& config, const std::string& origin = "",
                                    const ConvertProgress& progress = nullptr);

// A few lines for a person: rows read, bad and dropped rows, per split and domain the sample
// count and each task's positive rate, where the output went.
std::string FormatConvertSummary(const ConvertSummary& summary);

}  // namespace moerec

#endif  // MOEREC_DATA_CONVERT_CONVERT_H_
