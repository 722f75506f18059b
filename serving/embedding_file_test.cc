#include "serving/embedding_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "core/checksum.h"
#include "core/random.h"
#include "core/temp_dir.h"

namespace moerec {
namespace {

using testing::TempDir;

EmbeddingMatrix RandomMatrix(EmbeddingMatrix::Kind kind, int64_t rows, int64_t dim, uint64_t seed) {
  Rng rng(seed);
  EmbeddingMatrix m;
  m.kind = kind;
  m.dim = dim;
  for (int64_t i = 0; i < rows; ++i) {
    m.ids.push_back(rng.Next());
    m.scenario.push_back(static_cast<int32_t>(rng.Below(5)) - 1);  // -1 .. 3
  }
  for (int64_t i = 0; i < rows * dim; ++i) m.values.push_back(static_cast<float>(rng.Normal()));
  return m;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Recomputes the trailing CRC-32, so that a test can plant bad contents behind a valid checksum.
void FixChecksum(std::string* bytes) {
  const uint32_t crc = Crc32(bytes->data(), bytes->size() - 4);
  std::memcpy(bytes->data() + bytes->size() - 4, &crc, 4);
}

void ExpectEqual(const EmbeddingMatrix& a, const EmbeddingMatrix& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.scenario, b.scenario);
  ASSERT_EQ(a.values.size(), b.values.size());
  // Bitwise (memcmp is undefined on the null data() of empty vectors: compare those by size).
  if (!a.values.empty()) {
    EXPECT_EQ(std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)), 0);
  }
}

TEST(EmbeddingFileTest, RoundTripsBothKinds) {
  TempDir dir;
  for (EmbeddingMatrix::Kind kind : {EmbeddingMatrix::kUser, EmbeddingMatrix::kItem}) {
    const EmbeddingMatrix m = RandomMatrix(kind, 321, 17, 7 + kind);
    const std::string path = dir / (std::string(EmbeddingKindName(kind)) + ".emb");
    ASSERT_TRUE(WriteEmbeddingFile(path, m).ok());
    // 32-byte header, 8 + 4 bytes of id and scenario and 4 d of values per row, the CRC.
    EXPECT_EQ(std::filesystem::file_size(path), 32u + 321u * (12u + 4u * 17u) + 4u);
    StatusOr<EmbeddingMatrix> back = ReadEmbeddingFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectEqual(m, *back);
    EXPECT_EQ(back->rows(), 321);
  }
  // Nothing but the two files: the temporaries were renamed away.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 2);
}

TEST(EmbeddingFileTest, RoundTripsAnEmptyMatrix) {
  TempDir dir;
  EmbeddingMatrix m;
  m.kind = EmbeddingMatrix::kItem;
  m.dim = 8;
  ASSERT_TRUE(WriteEmbeddingFile(dir / "e.emb", m).ok());
  StatusOr<EmbeddingMatrix> back = ReadEmbeddingFile(dir / "e.emb");
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectEqual(m, *back);
}

TEST(EmbeddingFileTest, LayoutIsTheDocumentedOne) {
  TempDir dir;
  EmbeddingMatrix m;
  m.kind = EmbeddingMatrix::kItem;
  m.dim = 2;
  m.ids = {0x0102030405060708ULL};
  m.scenario = {-1};
  m.values = {1.0f, -2.0f};
  ASSERT_TRUE(WriteEmbeddingFile(dir / "e.emb", m).ok());
  const std::string bytes = ReadBytes(dir / "e.emb");
  ASSERT_EQ(bytes.size(), 32u + 8u + 4u + 8u + 4u);
  EXPECT_EQ(bytes.substr(0, 10), "MOEREC-EMB");
  uint16_t version;
  uint32_t kind;
  uint64_t rows, dim, id;
  int32_t scenario;
  float values[2];
  uint32_t crc;
  std::memcpy(&version, bytes.data() + 10, 2);
  std::memcpy(&kind, bytes.data() + 12, 4);
  std::memcpy(&rows, bytes.data() + 16, 8);
  std::memcpy(&dim, bytes.data() + 24, 8);
  std::memcpy(&id, bytes.data() + 32, 8);
  std::memcpy(&scenario, bytes.data() + 40, 4);
  std::memcpy(values, bytes.data() + 44, 8);
  std::memcpy(&crc, bytes.data() + 52, 4);
  EXPECT_EQ(version, 1);
  EXPECT_EQ(kind, 1u);
  EXPECT_EQ(rows, 1u);
  EXPECT_EQ(dim, 2u);
  EXPECT_EQ(id, 0x0102030405060708ULL);
  EXPECT_EQ(scenario, -1);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.0f);
  EXPECT_EQ(crc, Crc32(bytes.data(), 52));
}

TEST(EmbeddingFileTest, AFlippedByteAnywhereIsDetected) {
  TempDir dir;
  const std::string path = dir / "e.emb";
  ASSERT_TRUE(WriteEmbeddingFile(path, RandomMatrix(EmbeddingMatrix::kUser, 50, 4, 3)).ok());
  const std::string good = ReadBytes(path);
  // Header fields, an id, a scenario, a value, the checksum itself.
  for (size_t offset : {size_t{3}, size_t{11}, size_t{13}, size_t{17}, size_t{25}, size_t{40},
                        size_t{32 + 8 * 50 + 7}, size_t{32 + 12 * 50 + 99}, good.size() - 2}) {
    std::string bad = good;
    bad[offset] ^= 0x10;
    WriteBytes(path, bad);
    StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
    ASSERT_FALSE(m.ok()) << "byte " << offset;
    EXPECT_EQ(m.status().code(), StatusCode::kCorruption) << m.status();
    EXPECT_NE(m.status().message().find(path), std::string::npos) << m.status();
  }
  // In the data and the checksum, it is the checksum that says so.
  for (size_t offset : {size_t{40}, size_t{32 + 12 * 50 + 99}, good.size() - 2}) {
    std::string bad = good;
    bad[offset] ^= 0x01;
    WriteBytes(path, bad);
    StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("checksum mismatch"), std::string::npos) << m.status();
  }
}

TEST(EmbeddingFileTest, TruncationAndTrailingBytesAreDetected) {
  TempDir dir;
  const std::string path = dir / "e.emb";
  ASSERT_TRUE(WriteEmbeddingFile(path, RandomMatrix(EmbeddingMatrix::kItem, 40, 6, 4)).ok());
  const std::string good = ReadBytes(path);
  for (size_t size : {size_t{0}, size_t{9}, size_t{31}, size_t{32}, good.size() / 2,
                      good.size() - 4, good.size() - 1}) {
    WriteBytes(path, good.substr(0, size));
    StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
    ASSERT_FALSE(m.ok()) << size << " bytes";
    EXPECT_EQ(m.status().code(), StatusCode::kCorruption) << m.status();
    EXPECT_NE(m.status().message().find(path + ": truncated"), std::string::npos) << m.status();
  }
  WriteBytes(path, good + "x");
  StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("trailing bytes"), std::string::npos) << m.status();
}

TEST(EmbeddingFileTest, BadMagicVersionKindAndDimAreNamed) {
  TempDir dir;
  const std::string path = dir / "e.emb";
  ASSERT_TRUE(WriteEmbeddingFile(path, RandomMatrix(EmbeddingMatrix::kItem, 3, 2, 5)).ok());
  const std::string good = ReadBytes(path);
  struct Case {
    size_t offset;
    char value;
    const char* message;
  };
  for (const Case& c : {Case{0, 'X', "bad magic"}, Case{10, 9, "format version 9"},
                        Case{12, 7, "kind 7"}, Case{24, 0, "dim 0"}}) {
    std::string bad = good;
    bad[c.offset] = c.value;
    FixChecksum(&bad);
    WriteBytes(path, bad);
    StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
    ASSERT_FALSE(m.ok()) << c.message;
    EXPECT_NE(m.status().message().find(c.message), std::string::npos) << m.status();
  }
  WriteBytes(path, "this is a text file, not embeddings");
  StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("bad magic"), std::string::npos) << m.status();
}

TEST(EmbeddingFileTest, NonFiniteValuesAndBadScenariosBehindAValidChecksumAreRefused) {
  TempDir dir;
  const std::string path = dir / "e.emb";
  ASSERT_TRUE(WriteEmbeddingFile(path, RandomMatrix(EmbeddingMatrix::kItem, 4, 3, 6)).ok());
  const std::string good = ReadBytes(path);
  const size_t values_at = 32 + 12 * 4;
  for (float v :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::string bad = good;
    std::memcpy(bad.data() + values_at + 4 * 7, &v, 4);  // row 2, column 1
    FixChecksum(&bad);
    WriteBytes(path, bad);
    StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("row 2 column 1 is not finite"), std::string::npos)
        << m.status();
  }
  std::string bad = good;
  const int32_t scenario = -5;
  std::memcpy(bad.data() + 32 + 8 * 4 + 4, &scenario, 4);  // row 1
  FixChecksum(&bad);
  WriteBytes(path, bad);
  StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("row 1 has scenario -5"), std::string::npos) << m.status();
}

TEST(EmbeddingFileTest, AMissingFileIsNotFound) {
  TempDir dir;
  StatusOr<EmbeddingMatrix> m = ReadEmbeddingFile(dir / "absent.emb");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound) << m.status();
}

TEST(EmbeddingFileTest, WriteRefusesIllFormedMatrices) {
  TempDir dir;
  const std::string path = dir / "e.emb";
  const EmbeddingMatrix good = RandomMatrix(EmbeddingMatrix::kUser, 5, 3, 8);
  struct Case {
    EmbeddingMatrix m;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({good, "dim 0"});
  cases.back().m.dim = 0;
  cases.push_back({good, "4 scenarios for 5 ids"});
  cases.back().m.scenario.pop_back();
  cases.push_back({good, "14 values for 5 rows of dim 3"});
  cases.back().m.values.pop_back();
  cases.push_back({good, "row 4 column 2 is not finite"});
  cases.back().m.values[14] = std::numeric_limits<float>::quiet_NaN();
  cases.push_back({good, "row 0 has scenario -2"});
  cases.back().m.scenario[0] = -2;
  for (const Case& c : cases) {
    const Status s = WriteEmbeddingFile(path, c.m);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s;
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace
}  // namespace moerec
