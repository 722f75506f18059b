// TempDir: a fresh folder for a test, under $TEST_TMPDIR, else $TMPDIR, else /tmp; removed with
// its contents when the object goes away. Test-only (header-only, linked into no library).
#ifndef MOEREC_CORE_TEMP_DIR_H_
#define MOEREC_CORE_TEMP_DIR_H_

#include <glog/logging.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace moerec::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr) base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/moerec-test-XXXXXX";
    CHECK(mkdtemp(pattern.data()) != nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string operator/(const std::string& name) const { return file(name); }

 private:
  std::string path_;
};

}  // namespace moerec::testing

#endif  // MOEREC_CORE_TEMP_DIR_H_
