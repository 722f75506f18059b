#include "comm/teacher_wire.h"

#include <algorithm>
#include <cstring>

#include "core/checksum.h"

namespace moerec {
namespace {

constexpr char kRequestMagic[4] = {'M', 'R', 'T', 'Q'};
constexpr char kReplyMagic[4] = {'M', 'R', 'T', 'A'};
constexpr uint32_t kVersion = 1;
constexpr size_t kRequestHeader = 4 + 4 + 8 + 8;
constexpr size_t kReplyHeader = 4 + 4 + 8;

template <typename T>
void Append(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
T Read(std::string_view bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

void AppendCrc(std::string* out) { Append(out, Crc32(*out)); }

// Checks the trailing CRC-32 of a message; `what` names it.
Status CheckCrc(std::string_view bytes, const std::string& what) {
  const uint32_t stored = Read<uint32_t>(bytes, bytes.size() - 4);
  if (stored != Crc32(bytes.substr(0, bytes.size() - 4))) {
    return Corruption(what + " fails its CRC-32 check");
  }
  return Status::OK();
}

}  // namespace

std::string EncodeTeacherRequest(ConstMatView features, const int32_t* domains) {
  std::string out;
  const int64_t pairs = features.rows, width = features.cols;
  out.reserve(kRequestHeader + pairs * (width + 1) * 4 + 4);
  out.append(kRequestMagic, 4);
  Append(&out, kVersion);
  Append(&out, pairs);
  Append(&out, width);
  for (int64_t i = 0; i < pairs; ++i) {
    out.append(reinterpret_cast<const char*>(features.row(i)), width * sizeof(float));
  }
  out.append(reinterpret_cast<const char*>(domains), pairs * sizeof(int32_t));
  AppendCrc(&out);
  return out;
}

std::string EncodeTeacherDone() {
  std::string out(kRequestMagic, 4);
  Append(&out, kVersion);
  Append(&out, int64_t{-1});
  Append(&out, int64_t{0});
  AppendCrc(&out);
  return out;
}

Status DecodeTeacherRequest(std::string_view bytes, int64_t width, int num_domains,
                            TeacherRequest* out) {
  const std::string what = "teacher request";
  if (bytes.size() < kRequestHeader + 4 || std::memcmp(bytes.data(), kRequestMagic, 4) != 0) {
    return Corruption(what + ": not a teacher request (" + std::to_string(bytes.size()) +
                      " bytes, bad magic or too short)");
  }
  RETURN_IF_ERROR(CheckCrc(bytes, what));
  const uint32_t version = Read<uint32_t>(bytes, 4);
  if (version != kVersion) {
    return InvalidArgument(what + ": version " + std::to_string(version) +
                           ", this teacher speaks " + std::to_string(kVersion));
  }
  out->pairs = Read<int64_t>(bytes, 8);
  out->width = Read<int64_t>(bytes, 16);
  out->features.clear();
  out->domains.clear();
  const size_t body = bytes.size() - kRequestHeader - 4;
  if (out->pairs == -1) {
    if (body != 0)
      return Corruption(what + ": a done message with " + std::to_string(body) + " bytes of body");
    return Status::OK();
  }
  if (out->pairs < 0 || out->width != width) {
    return InvalidArgument(what + ": " + std::to_string(out->pairs) + " pairs of width " +
                           std::to_string(out->width) + "; this teacher reads rows of width " +
                           std::to_string(width));
  }
  // pairs * (width + 1) * 4 bytes, checked without overflow.
  const uint64_t per_pair = static_cast<uint64_t>(width + 1) * 4;
  if (static_cast<uint64_t>(out->pairs) > body / per_pair ||
      static_cast<uint64_t>(out->pairs) * per_pair != body) {
    return Corruption(what + ": " + std::to_string(body) + " bytes of body for " +
                      std::to_string(out->pairs) + " pairs of width " + std::to_string(width));
  }
  const int64_t pairs = out->pairs;
  out->features.resize(pairs * width);
  out->domains.resize(pairs);
  std::memcpy(out->features.data(), bytes.data() + kRequestHeader, pairs * width * 4);
  std::memcpy(out->domains.data(), bytes.data() + kRequestHeader + pairs * width * 4, pairs * 4);
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t d = out->domains[i];
    if (d < 0 || d >= num_domains || (i > 0 && d < out->domains[i - 1])) {
      return InvalidArgument(what + ": pair " + std::to_string(i) + " has domain " +
                             std::to_string(d) + " (domains are in [0, " +
                             std::to_string(num_domains) + ") and non-decreasing)");
    }
  }
  return Status::OK();
}

std::string EncodeTeacherReply(const Status& status, const float* logits, int64_t n) {
  std::string out(kReplyMagic, 4);
  Append(&out, static_cast<uint32_t>(status.code()));
  if (status.ok()) {
    Append(&out, n);
    out.append(reinterpret_cast<const char*>(logits), n * sizeof(float));
  } else {
    const std::string text(status.message());
    Append(&out, static_cast<int64_t>(text.size()));
    out.append(text);
  }
  AppendCrc(&out);
  return out;
}

Status DecodeTeacherReply(std::string_view bytes, int64_t expected, float* logits) {
  const std::string what = "teacher reply";
  if (bytes.size() < kReplyHeader + 4 || std::memcmp(bytes.data(), kReplyMagic, 4) != 0) {
    return Corruption(what + ": not a teacher reply (bad magic or too short)");
  }
  RETURN_IF_ERROR(CheckCrc(bytes, what));
  const uint32_t code = Read<uint32_t>(bytes, 4);
  const int64_t n = Read<int64_t>(bytes, 8);
  const size_t body = bytes.size() - kReplyHeader - 4;
  if (code != 0) {
    const StatusCode c = code <= static_cast<uint32_t>(kLastStatusCode)
                             ? static_cast<StatusCode>(code)
                             : StatusCode::kInternal;
    return Status(c,
                  std::string(bytes.substr(kReplyHeader, std::min<size_t>(body, n < 0 ? 0 : n))));
  }
  if (n != expected || body != static_cast<uint64_t>(expected) * 4) {
    return Corruption(what + ": " + std::to_string(n) + " logits in " + std::to_string(body) +
                      " bytes; " + std::to_string(expected) + " were asked for");
  }
  std::memcpy(logits, bytes.data() + kReplyHeader, expected * 4);
  return Status::OK();
}

}  // namespace moerec
