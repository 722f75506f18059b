// `moerec convert`: CSV/TSV and public-dataset layouts to moerec shards.
#include <gflags/gflags.h>

#include <cstdio>

#include "data/convert/convert.h"
#include "launch/commands.h"

DECLARE_string(config);

namespace moerec {

int ConvertCommand() {
  auto run = []() -> Status {
    if (FLAGS_config.empty()) return InvalidArgument("--config is required");
    ASSIGN_OR_RETURN(const ConvertConfig config, LoadConvertConfig(FLAGS_config));
    ASSIGN_OR_RETURN(const ConvertSummary summary, RunConvert(config));
    std::printf("%s", FormatConvertSummary(summary).c_str());
    return Status::OK();
  };
  return ReportStatus("convert", run());
}

}  // namespace moerec
