// How rows are laid out in memory (slab records) and on disk (RocksDB keys and values,
// checkpoint row files). Dimension legend: stride = dim + optimizer state floats of the table.
//
//   slab record  [RowMeta (32 bytes) | record: float[stride]]      (weights first, then state)
//   RocksDB key  big-endian table name_hash (8) | big-endian feature id (8): a table's rows form
//                one contiguous key range, in id order.
//   RocksDB value (kRowHeaderBytes + 4 * stride bytes, little-endian):
//                u8 format version | u8 0 | u16 0 | u32 frequency | i64 last_seen | i64 updates |
//                float[stride]
// Thread-safety: pure functions.
#ifndef MOEREC_PS_ROW_CODEC_H_
#define MOEREC_PS_ROW_CODEC_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace moerec {

static_assert(std::endian::native == std::endian::little, "row files are little-endian");

inline constexpr size_t kRowKeyBytes = 16;
inline constexpr size_t kRowHeaderBytes = 24;
inline constexpr uint8_t kRowFormatVersion = 1;

// Row flags (RowMeta::flags).
inline constexpr uint8_t kRowOccupied = 1;   // the slot holds a row
inline constexpr uint8_t kRowDirty = 2;      // differs from RocksDB: written back on eviction
inline constexpr uint8_t kRowMetaDirty = 4;  // only last_seen / frequency differ: written on Flush
inline constexpr uint8_t kRowChanged = 8;    // changed since the last checkpoint

// Metadata at the head of each slab record.
struct RowMeta {
  uint64_t key;
  int64_t last_seen;   // step of the last training pull or push
  int64_t updates;     // optimizer updates applied (Adam's t)
  uint32_t frequency;  // training pulls that saw the row (saturating)
  uint8_t flags;
  uint8_t clock;  // CLOCK weight: raised by use, lowered by the eviction hand
  uint16_t reserved;
};
static_assert(sizeof(RowMeta) == 32);

inline void EncodeRowKey(uint64_t table_hash, uint64_t key, char* out) {
  const uint64_t a = __builtin_bswap64(table_hash);
  const uint64_t b = __builtin_bswap64(key);
  std::memcpy(out, &a, 8);
  std::memcpy(out + 8, &b, 8);
}

inline void DecodeRowKey(const char* in, uint64_t* table_hash, uint64_t* key) {
  uint64_t a, b;
  std::memcpy(&a, in, 8);
  std::memcpy(&b, in + 8, 8);
  *table_hash = __builtin_bswap64(a);
  *key = __builtin_bswap64(b);
}

// The smallest key of the table and the first key after it (for range scans and deletes).
inline std::string TableKeyBegin(uint64_t table_hash) {
  std::string k(kRowKeyBytes, '\0');
  EncodeRowKey(table_hash, 0, k.data());
  return k;
}
// Empty when the table is the last possible one (no upper bound needed).
inline std::string TableKeyEnd(uint64_t table_hash) {
  if (table_hash == UINT64_MAX) return std::string();
  std::string k(kRowKeyBytes, '\0');
  EncodeRowKey(table_hash + 1, 0, k.data());
  return k;
}

inline size_t RowValueBytes(int stride) {
  return kRowHeaderBytes + 4 * static_cast<size_t>(stride);
}

// out: RowValueBytes(stride) bytes.
inline void EncodeRowValue(const RowMeta& meta, const float* record, int stride, char* out) {
  const uint8_t head[4] = {kRowFormatVersion, 0, 0, 0};
  std::memcpy(out, head, 4);
  std::memcpy(out + 4, &meta.frequency, 4);
  std::memcpy(out + 8, &meta.last_seen, 8);
  std::memcpy(out + 16, &meta.updates, 8);
  std::memcpy(out + kRowHeaderBytes, record, 4 * static_cast<size_t>(stride));
}

// Reads the metadata of a stored value; false when its size or format version is wrong
// (BadRowValue then says which).
inline bool ParseRowHeader(std::string_view value, int stride, RowMeta* meta) {
  if (value.size() != RowValueBytes(stride) ||
      static_cast<uint8_t>(value[0]) != kRowFormatVersion) {
    return false;
  }
  std::memcpy(&meta->frequency, value.data() + 4, 4);
  std::memcpy(&meta->last_seen, value.data() + 8, 8);
  std::memcpy(&meta->updates, value.data() + 16, 8);
  return true;
}

// The Corruption for a value ParseRowHeader refused; `where` names the row and its file.
inline Status BadRowValue(std::string_view value, int stride, const std::string& where) {
  if (value.size() != RowValueBytes(stride)) {
    return Corruption(where + ": stored row has " + std::to_string(value.size()) +
                      " bytes, expected " + std::to_string(RowValueBytes(stride)));
  }
  return Corruption(where + ": unknown row format version " +
                    std::to_string(static_cast<uint8_t>(value[0])));
}

inline void DecodeRowRecord(std::string_view value, int stride, float* record) {
  std::memcpy(record, value.data() + kRowHeaderBytes, 4 * static_cast<size_t>(stride));
}

}  // namespace moerec

#endif  // MOEREC_PS_ROW_CODEC_H_
