// Fuzzes the config loaders (proto/text_config.h LoadJobConfig: parse, resolve, fill defaults,
// validate; data/convert/convert.h ParseConvertConfig): any text loads or gives a Status that
// names the file.
#include <cstdlib>

#include "data/convert/convert.h"
#include "proto/text_config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string_view text = fuzz::AsView(data, size);
  const std::string path = fuzz::WriteInput("job.pbtxt", text);
  StatusOr<JobConfig> job = LoadJobConfig(path);
  if (!job.ok() && job.status().message().find("job.pbtxt") == std::string::npos) {
    std::abort();  // an error that does not say which file is wrong
  }
  (void)ParseConvertConfig(std::string(text), "convert.pbtxt", fuzz::Scratch().path());
  return 0;
}
