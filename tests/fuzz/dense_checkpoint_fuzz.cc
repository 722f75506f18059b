// Fuzzes the readers of a checkpoint's dense state (core/parameter.h ParameterSet::LoadFrom,
// core/optimizer.h DenseOptimizer::LoadState: the sections of dense.bin and experts-*.bin) on a
// small parameter set: any bytes load or give a Status; a load never writes past a parameter.
#include "core/optimizer.h"
#include "core/parameter.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string_view bytes = fuzz::AsView(data, size);
  ParameterSet params;
  params.Add("bottom.w", {3, 4});
  params.Add("bottom.b", {4});
  params.Add("tower.w", {4, 1});
  (void)params.LoadFrom(bytes);
  for (DenseOptimizerType type :
       {DenseOptimizerType::kAdam, DenseOptimizerType::kAdagrad, DenseOptimizerType::kSgd}) {
    DenseOptimizerOptions options;
    options.type = type;
    options.momentum = 0.9f;
    auto optimizer = DenseOptimizer::Create(options, &params);
    if (!optimizer.ok()) std::abort();
    (void)(*optimizer)->LoadState(bytes);
    (void)(*optimizer)->LoadState(bytes, /*merge=*/true);
  }
  return 0;
}
