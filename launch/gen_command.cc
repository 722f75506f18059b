// `moerec gen`: write a config's synthetic dataset.
#include <gflags/gflags.h>

#include "launch/commands.h"
#include "launch/job_setup.h"
#include "proto/text_config.h"

DECLARE_string(config);
DEFINE_bool(force, false, "gen: regenerate even when the train folder already holds shards");

namespace moerec {

int GenCommand() {
  auto run = []() -> Status {
    if (FLAGS_config.empty()) return InvalidArgument("--config is required");
    ASSIGN_OR_RETURN(JobConfig config, LoadJobConfig(FLAGS_config));
    if (!config.data().has_synthetic()) {
      return InvalidArgument(FLAGS_config + ": data.synthetic is not set; nothing to generate");
    }
    return EnsureSyntheticData(config.data(), FLAGS_force);
  };
  return ReportStatus("gen", run());
}

}  // namespace moerec
