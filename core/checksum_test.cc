#include "core/checksum.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moerec {
namespace {

TEST(ChecksumTest, IsTheStandardCrc32) {
  EXPECT_EQ(Crc32(std::string_view("123456789")), 0xCBF43926u);  // the CRC-32 check value
  EXPECT_EQ(Crc32(std::string_view()), 0u);
}

TEST(ChecksumTest, ExtendingInPiecesEqualsTheWhole) {
  std::string bytes(100000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  uint32_t crc = 0;
  for (size_t off = 0; off < bytes.size(); off += 777) {
    crc = Crc32Extend(crc, bytes.data() + off, std::min<size_t>(777, bytes.size() - off));
  }
  EXPECT_EQ(crc, Crc32(bytes));
  bytes[5000] ^= 1;
  EXPECT_NE(crc, Crc32(bytes));
}

TEST(ChecksumTest, ExtendingByNothingKeepsTheValueEvenFromANullPointer) {
  const uint32_t crc = Crc32("moerec");
  EXPECT_EQ(Crc32Extend(crc, nullptr, 0), crc);
  const std::vector<float> empty;
  EXPECT_EQ(Crc32Extend(crc, empty.data(), 0), crc);
}

}  // namespace
}  // namespace moerec
