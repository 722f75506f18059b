// Little helpers of the host-order binary formats in core/ (parameter files, optimizer state):
// appending a value to a byte string, and a bounds-checked reader over one.
// Thread-safety: none (one owner per reader).
#ifndef MOEREC_CORE_INTERNAL_BYTE_IO_H_
#define MOEREC_CORE_INTERNAL_BYTE_IO_H_

#include <cstring>
#include <string>
#include <string_view>

namespace moerec::internal {

template <typename T>
void PutBytes(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// Every read reports false, and consumes nothing, when fewer bytes remain than it needs.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  bool Get(T* v) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Take(size_t n, std::string_view* out) {
    if (bytes_.size() - pos_ < n) return false;
    *out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_BYTE_IO_H_
