// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing
// (TensorBoard event files) and of many storage formats; not moerec's own file checksum, which
// is zlib's CRC-32 (core/checksum.h). MaskedCrc32c is TFRecord's mask, which keeps a CRC of
// data that itself holds CRCs from being degenerate.
// Thread-safety: pure functions.
#ifndef MOEREC_CORE_CRC32C_H_
#define MOEREC_CORE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace moerec {

// CRC-32C of `size` bytes continuing from `crc` (0 to start): Crc32cExtend(Crc32c(a), b) equals
// Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::string_view bytes) { return Crc32c(bytes.data(), bytes.size()); }

// ((crc >> 15) | (crc << 17)) + 0xa282ead8, with 32-bit wraparound.
inline uint32_t MaskCrc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t MaskedCrc32c(std::string_view bytes) { return MaskCrc32c(Crc32c(bytes)); }

}  // namespace moerec

#endif  // MOEREC_CORE_CRC32C_H_
