#include "core/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace moerec {
namespace {

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), StatusCode::kOk);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "OK");
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());

  const Status s = InvalidArgument("field x must be > 0");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "field x must be > 0");
  EXPECT_EQ(s.ToString(), "InvalidArgument: field x must be > 0");
  EXPECT_EQ(NotFound("a").ToString(), "NotFound: a");
  EXPECT_EQ(IoError("a").ToString(), "IoError: a");
  EXPECT_EQ(Corruption("a").ToString(), "Corruption: a");
  EXPECT_EQ(FailedPrecondition("a").ToString(), "FailedPrecondition: a");
  EXPECT_EQ(Unavailable("a").ToString(), "Unavailable: a");
  EXPECT_EQ(Internal("a").ToString(), "Internal: a");
}

TEST(StatusTest, CopiesShareAndContextPrefixes) {
  const Status s = NotFound("shard 3");
  const Status copy = s;  // NOLINT(performance-unnecessary-copy-initialization): tested
  EXPECT_EQ(copy.code(), StatusCode::kNotFound);
  EXPECT_EQ(copy.message(), "shard 3");
  const Status c = s.WithContext("opening data.bin");
  EXPECT_EQ(c.code(), StatusCode::kNotFound);
  EXPECT_EQ(c.message(), "opening data.bin: shard 3");
  EXPECT_EQ(s.message(), "shard 3");
  EXPECT_TRUE(Status::OK().WithContext("anything").ok());
}

TEST(StatusTest, ErrnoErrorCarriesStrerror) {
  errno = ENOENT;
  const Status s = ErrnoError("open /nope");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(), std::string("open /nope: ") + std::strerror(ENOENT));
}

TEST(StatusTest, ErrnoErrorSaysWhatToChangeForPermissionsAndReadOnlyDisks) {
  errno = EACCES;
  const Status denied = ErrnoError("open /data/part-00000.mrs");
  EXPECT_EQ(denied.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(denied.message().rfind(std::string("open /data/part-00000.mrs: ") +
                                       std::strerror(EACCES) + " (this process runs as uid ",
                                   0),
            0u)
      << denied.message();
  errno = EROFS;
  const Status read_only = ErrnoError("write /run/metrics.jsonl");
  EXPECT_EQ(read_only.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(read_only.message().find("remount it read-write"), std::string::npos);
  errno = ENOSPC;
  EXPECT_EQ(ErrnoError("write x").code(), StatusCode::kResourceExhausted);
}

TEST(StatusOrTest, HoldsAValueOrAnError) {
  StatusOr<std::string> v(std::string("hello"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "hello");
  EXPECT_EQ(v->size(), 5u);
  EXPECT_TRUE(v.status().ok());
  const StatusOr<std::string>& cv = v;
  EXPECT_EQ(*cv, "hello");
  EXPECT_EQ(cv->size(), 5u);
  const std::string moved = std::move(v).value();
  EXPECT_EQ(moved, "hello");

  StatusOr<std::string> e(Unavailable("peer 2 gone"));
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable);

  StatusOr<std::unique_ptr<int>> p(std::make_unique<int>(7));
  std::unique_ptr<int> owned = std::move(p).value();
  EXPECT_EQ(*owned, 7);
}

TEST(StatusOrDeathTest, MisuseIsAnInvariantViolation) {
  EXPECT_DEATH(
      {
        StatusOr<int> s(Status::OK());
        (void)s;
      },
      "OK Status");
  StatusOr<int> e(Internal("boom"));
  EXPECT_DEATH(e.value(), "boom");
}

Status FailIf(bool fail, int* calls) {
  ++*calls;
  return fail ? InvalidArgument("failed") : Status::OK();
}

Status TwoSteps(bool fail_first, int* calls) {
  RETURN_IF_ERROR(FailIf(fail_first, calls));
  RETURN_IF_ERROR(FailIf(false, calls));
  return Internal("reached the end");
}

TEST(MacroTest, ReturnIfErrorStopsAtTheFirstError) {
  int calls = 0;
  EXPECT_EQ(TwoSteps(true, &calls).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_EQ(TwoSteps(false, &calls).code(), StatusCode::kInternal);
  EXPECT_EQ(calls, 2);
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(const int h, Half(x));
  int q = 0;
  ASSIGN_OR_RETURN(q, Half(h));  // into an existing variable
  return q;
}

TEST(MacroTest, AssignOrReturnPropagatesErrorsAndMovesValues) {
  EXPECT_EQ(Quarter(12).value(), 3);
  EXPECT_EQ(Quarter(6).status().message(), "3 is odd");
  EXPECT_EQ(Quarter(5).status().message(), "5 is odd");
}

}  // namespace
}  // namespace moerec
