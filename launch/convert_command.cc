// `moerec convert`: CSV/TSV and public-dataset layouts to moerec shards.
#include <gflags/gflags.h>

#include <cstdio>
#include <memory>

#include "data/convert/convert.h"
#include "launch/commands.h"
#include "launch/job_setup.h"
#include "worker/progress.h"

DECLARE_string(config);

namespace moerec {

int ConvertCommand() {
  auto run = []() -> Status {
    if (FLAGS_config.empty()) return InvalidArgument("--config is required");
    ASSIGN_OR_RETURN(const ConvertConfig config, LoadConvertConfig(FLAGS_config));
    // Rows written: a live line on a terminal, else a log line every 10 seconds.
    std::unique_ptr<Progress> progress;
    ASSIGN_OR_RETURN(
        const ConvertSummary summary,
        RunConvert(config, /*origin=*/"", [&](int64_t done, int64_t total, double input_share) {
          if (progress == nullptr) {
            progress = std::make_unique<Progress>(InteractiveProgress(), total, 10);
          }
          progress->Count(done, "rows", /*last=*/done == total, input_share);
        }));
    if (progress != nullptr) progress->Break();
    std::printf("%s", FormatConvertSummary(summary).c_str());
    return Status::OK();
  };
  return ReportStatus("convert", run());
}

}  // namespace moerec
