#include "core/checksum.h"

#include <zlib.h>

namespace moerec {

uint32_t Crc32Extend(uint32_t crc, const void* data, size_t size) {
  // zlib restarts at a null pointer (crc32_z(c, nullptr, 0) is 0): extending by nothing, as an
  // empty vector's data() does, must keep the running value.
  if (size == 0) return crc;
  // crc32_z takes a size_t length, so no piecewise feeding is needed.
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

}  // namespace moerec
