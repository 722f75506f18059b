// Shared pieces of the libFuzzer targets: a scratch folder for the life of the process (readers
// of files get the input as a file there) and writing an input to a file in it. The folder is
// under $TMPDIR (tests/fuzz/run_fuzz.sh points it at /dev/shm when it can).
#ifndef MOEREC_TESTS_FUZZ_FUZZ_UTIL_H_
#define MOEREC_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/temp_dir.h"

namespace moerec::fuzz {

inline const moerec::testing::TempDir& Scratch() {
  static const auto* dir = new moerec::testing::TempDir();  // outlives every input
  return *dir;
}

// Writes data to <scratch>/name and returns the path.
inline std::string WriteInput(const std::string& name, std::string_view data) {
  const std::string path = Scratch().file(name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) std::abort();
  std::fclose(f);
  return path;
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace moerec::fuzz

#endif  // MOEREC_TESTS_FUZZ_FUZZ_UTIL_H_
