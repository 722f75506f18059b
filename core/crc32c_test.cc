#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace moerec {
namespace {

// Check values published with the CRC-32C definition (RFC 3720 appendix B.4 and the common
// "123456789" check value).
TEST(Crc32cTest, PublishedCheckValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const std::string text = "the quick brown fox jumps over the lazy dog";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const uint32_t first = Crc32c(text.data(), cut);
    EXPECT_EQ(Crc32cExtend(first, text.data() + cut, text.size() - cut), Crc32c(text)) << cut;
  }
}

TEST(Crc32cTest, MaskIsTfRecords) {
  // mask(c) = rotr15(c) + 0xa282ead8.
  EXPECT_EQ(MaskCrc32c(0), 0xa282ead8u);
  EXPECT_EQ(MaskCrc32c(0x00008000u), 0xa282ead9u);
  const uint32_t c = Crc32c("123456789");
  EXPECT_EQ(MaskCrc32c(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  EXPECT_EQ(MaskedCrc32c("123456789"), MaskCrc32c(c));
}

}  // namespace
}  // namespace moerec
