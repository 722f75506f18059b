// The one checksum of every moerec byte format (shards, wire frames, checkpoints, parameter
// files): zlib's CRC-32, so a file's checksum can be checked with standard tools.
// Thread-safety: pure functions.
#ifndef MOEREC_CORE_CHECKSUM_H_
#define MOEREC_CORE_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace moerec {

// CRC-32 of `size` bytes continuing from `crc` (0 to start); any length, including > 4 GiB.
uint32_t Crc32Extend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32(const void* data, size_t size) { return Crc32Extend(0, data, size); }
inline uint32_t Crc32(std::string_view bytes) { return Crc32(bytes.data(), bytes.size()); }

}  // namespace moerec

#endif  // MOEREC_CORE_CHECKSUM_H_
