// The messages between a distilled student's workers and its teacher ranks (worker/teacher.h).
// A request (tag kTeacherRequestTag) is, little-endian,
//   "MRTQ" | u32 version (1) | i64 pairs | i64 width | f32 features[pairs * width]
//   | i32 domains[pairs] | u32 CRC-32 of everything before it
// with pairs = -1 (and nothing between the header and the CRC) when the worker is done; the
// answer (tag kTeacherReplyTag) is
//   "MRTA" | u32 status code (0 = OK) | i64 n | f32 logits[n], or n bytes of error text
//   | u32 CRC-32
// Every field is checked by the receiver before use.
// Thread-safety: functions.
#ifndef MOEREC_COMM_TEACHER_WIRE_H_
#define MOEREC_COMM_TEACHER_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace moerec {

inline constexpr int kTeacherRequestTag = 4101;
inline constexpr int kTeacherReplyTag = 4102;

// A teacher request, decoded (features is (pairs, width); pairs < 0: the worker is done).
struct TeacherRequest {
  int64_t pairs = 0;
  int64_t width = 0;
  std::vector<float> features;
  std::vector<int32_t> domains;
};
std::string EncodeTeacherRequest(ConstMatView features, const int32_t* domains);
std::string EncodeTeacherDone();
// InvalidArgument / Corruption naming what is wrong: magic, version, sizes, CRC, a width other
// than `width`, a domain outside [0, num_domains) or out of order.
Status DecodeTeacherRequest(std::string_view bytes, int64_t width, int num_domains,
                            TeacherRequest* out);
std::string EncodeTeacherReply(const Status& status, const float* logits, int64_t n);
// The reply's status (the teacher's error, with "teacher rank r: "), or its n = expected logits.
Status DecodeTeacherReply(std::string_view bytes, int64_t expected, float* logits);

}  // namespace moerec

#endif  // MOEREC_COMM_TEACHER_WIRE_H_
