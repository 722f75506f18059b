// `moerec report RUN_DIR [RUN_DIR ...] [--out=FILE]`: one self-contained HTML page about the
// runs (worker/metrics/run_report.h), written atomically to --out, by default
// <first RUN_DIR>/report.html.
#include <gflags/gflags.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "launch/commands.h"
#include "worker/metrics/run_report.h"

DECLARE_string(out);

namespace moerec {

int ReportCommand(int argc, char** argv) {
  auto run = [&]() -> Status {
    if (argc < 2) {
      return InvalidArgument("name at least one run folder: moerec report RUN_DIR [RUN_DIR ...]");
    }
    std::vector<RunRecord> runs;
    for (int i = 1; i < argc; ++i) {
      ASSIGN_OR_RETURN(RunRecord record, ReadRun(argv[i]));
      runs.push_back(std::move(record));
    }
    const std::string out = FLAGS_out.empty() ? std::string(argv[1]) + "/report.html" : FLAGS_out;
    RETURN_IF_ERROR(WriteFileAtomically(out, RenderRunReport(runs)));
    std::printf("report: %s\n", out.c_str());
    return Status::OK();
  };
  return ReportStatus("report", run());
}

}  // namespace moerec
