// RunNcclBenchmark: its option checks, its name=value lines on a GPU (small sizes), and
// Unavailable with the reason on a machine without one.
#include "bench/nccl_bench.h"

#include <gtest/gtest.h>

#include <string>

#include "core/gpu.h"

namespace moerec {
namespace {

#ifndef MOEREC_HAVE_NCCL
TEST(NcclBenchTest, ABuildWithoutNcclSaysSo) {
  const Status s = RunNcclBenchmark(NcclBenchOptions{});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("no NCCL backend"), std::string::npos) << s;
}
#else
TEST(NcclBenchTest, RefusesBadOptions) {
  NcclBenchOptions options;
  options.min_bytes = 12;  // not a multiple of 8
  EXPECT_EQ(RunNcclBenchmark(options).code(), StatusCode::kInvalidArgument);
  options = NcclBenchOptions{};
  options.max_bytes = options.min_bytes / 2;
  EXPECT_EQ(RunNcclBenchmark(options).code(), StatusCode::kInvalidArgument);
  options = NcclBenchOptions{};
  options.repetitions = 0;
  EXPECT_EQ(RunNcclBenchmark(options).code(), StatusCode::kInvalidArgument);
}

TEST(NcclBenchTest, PrintsEveryFigureOrSaysWhyItCannotRun) {
  NcclBenchOptions options;
  options.min_bytes = 1 << 16;
  options.max_bytes = 3 << 17;  // 64 KiB, 128 KiB, then 384 KiB (not a power of two)
  options.repetitions = 2;
  ::testing::internal::CaptureStdout();
  const Status s = RunNcclBenchmark(options);
  const std::string out = ::testing::internal::GetCapturedStdout();
  if (ListGpus().gpus.empty()) {
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
    EXPECT_NE(s.message().find("bench nccl"), std::string::npos) << s;
    GTEST_SKIP() << "no GPU: " << s.ToString();
  }
  ASSERT_TRUE(s.ok()) << s;
  for (const char* line :
       {"device=", "nccl_alltoall_bytes_per_sec_65536=", "nccl_allreduce_bytes_per_sec_131072=",
        "device_copy_bytes_per_sec_393216=", "message_bytes=393216\n",
        "\nnccl_alltoall_bytes_per_sec=", "\nnccl_allreduce_bytes_per_sec=",
        "\ndevice_copy_bytes_per_sec=", "alltoall_vs_copy="}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << " missing from\n" << out;
  }
}

#endif  // MOEREC_HAVE_NCCL

}  // namespace
}  // namespace moerec
