#include "core/file_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "core/temp_dir.h"

namespace moerec {
namespace {

using testing::TempDir;

TEST(FileLockTest, SecondHolderIsRefusedWithTheFirstNamed) {
  TempDir dir;
  const std::string path = dir / "run/LOCK";
  auto first = FileLock::TryAcquire(path, "run folder " + dir.path());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = FileLock::TryAcquire(path, "run folder " + dir.path());
  ASSERT_FALSE(second.ok());
  const std::string msg = second.status().ToString();
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
  EXPECT_NE(msg.find("host "), std::string::npos) << msg;
  EXPECT_NE(msg.find("since "), std::string::npos) << msg;
  EXPECT_NE(msg.find("run folder"), std::string::npos) << msg;
  first->reset();
  EXPECT_TRUE(FileLock::TryAcquire(path, "run folder").ok()) << "released on destruction";
}

TEST(FileLockTest, ALockOfADeadProcessIsStale) {
  TempDir dir;
  const std::string path = dir / "LOCK";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = FileLock::TryAcquire(path, "x");
    const char c = lock.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) _exit(2);
    ::pause();  // until killed
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto refused = FileLock::TryAcquire(path, "x");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().ToString().find("pid " + std::to_string(child)), std::string::npos)
      << refused.status();
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto taken = FileLock::TryAcquire(path, "x");
  EXPECT_TRUE(taken.ok()) << taken.status();
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(FileLockTest, AcquireWaitsAndCreatesTheFolder) {
  TempDir dir;
  auto lock = FileLock::Acquire(dir / "a/b/LOCK");
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ((*lock)->path(), dir / "a/b/LOCK");
}

}  // namespace
}  // namespace moerec
