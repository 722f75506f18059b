#include "core/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "core/checksum.h"
#include "core/temp_dir.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

int FilesIn(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::string Read(const std::string& path) {
  std::string s;
  EXPECT_TRUE(ReadFileToString(path, &s).ok()) << path;
  return s;
}

TEST(AtomicFileTest, TargetAppearsOnlyOnCommitWithSizeAndChecksum) {
  TempDir dir;
  const std::string path = dir / "f";
  auto file = AtomicFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  const std::string big(3 << 20, 'x');  // larger than the buffer: written through
  ASSERT_TRUE((*file)->Append(big).ok());
  EXPECT_FALSE(fs::exists(path)) << "the target exists before Commit";
  EXPECT_EQ(FilesIn(dir.path()), 1);  // the temporary
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(Read(path), "hello " + big);
  EXPECT_EQ((*file)->size(), 6 + big.size());
  const std::string all = "hello " + big;
  EXPECT_EQ((*file)->crc(), Crc32(all.data(), all.size()));
  EXPECT_EQ(FilesIn(dir.path()), 1) << "the temporary is left behind";
  EXPECT_FALSE((*file)->Commit().ok());
  EXPECT_FALSE((*file)->Append("more").ok());
}

TEST(AtomicFileTest, AbandonedFileLeavesTheOldContents) {
  TempDir dir;
  const std::string path = dir / "f";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    auto file = AtomicFile::Create(path);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append("new, never committed").ok());
  }
  EXPECT_EQ(Read(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1);
  ASSERT_TRUE(WriteFileAtomically(path, "replaced").ok());
  EXPECT_EQ(Read(path), "replaced");
}

TEST(AtomicFileTest, WritersOfOnePathDoNotShareATemporary) {
  TempDir dir;
  const std::string path = dir / "f";
  auto a = AtomicFile::Create(path), b = AtomicFile::Create(path);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Append("first").ok());
  ASSERT_TRUE((*b)->Append("second").ok());
  ASSERT_TRUE((*a)->Commit().ok());
  ASSERT_TRUE((*b)->Commit().ok());
  EXPECT_EQ(Read(path), "second");  // the last commit wins, whole
}

TEST(AtomicFileTest, ErrorsNameThePath) {
  TempDir dir;
  auto file = AtomicFile::Create(dir / "no/such/folder/f");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().ToString().find("no/such/folder/f"), std::string::npos) << file.status();
  // A target that cannot be replaced: a non-empty folder of the same name.
  fs::create_directories(dir / "busy/inner");
  auto busy = AtomicFile::Create(dir / "busy");
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE((*busy)->Append("x").ok());
  const Status s = (*busy)->Commit();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("rename"), std::string::npos) << s;
  EXPECT_EQ(FilesIn(dir.path()), 0) << "the temporary of a failed commit is left behind";
}

TEST(RenameDurablyTest, MovesAFolderWhole) {
  TempDir dir;
  fs::create_directories(dir / "staging");
  ASSERT_TRUE(WriteFileAtomically(dir / "staging/a", "1").ok());
  ASSERT_TRUE(RenameDurably(dir / "staging", dir / "out").ok());
  EXPECT_EQ(Read(dir / "out/a"), "1");
  EXPECT_FALSE(RenameDurably(dir / "staging", dir / "out2").ok());
}

TEST(ChecksumFileTest, MatchesTheBytes) {
  TempDir dir;
  const std::string text(100000, 'q');
  ASSERT_TRUE(WriteFileAtomically(dir / "f", text).ok());
  uint64_t size = 0;
  uint32_t crc = 0;
  ASSERT_TRUE(ChecksumFile(dir / "f", &size, &crc).ok());
  EXPECT_EQ(size, text.size());
  EXPECT_EQ(crc, Crc32(text.data(), text.size()));
  EXPECT_FALSE(ChecksumFile(dir / "missing", &size, &crc).ok());
}

}  // namespace
}  // namespace moerec
