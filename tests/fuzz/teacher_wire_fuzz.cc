// Fuzzes the messages between student workers and teacher ranks (comm/teacher_wire.h): a teacher
// rank decoding a request and a worker decoding the reply. What decodes is read through, so that
// ASan sees a view past the message.
#include <vector>

#include "comm/teacher_wire.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  const std::string_view bytes = fuzz::AsView(data, size);
  volatile float sink = 0;
  TeacherRequest request;
  if (DecodeTeacherRequest(bytes, 4, 3, &request).ok()) {
    for (const float f : request.features) sink = sink + f;
    for (const int32_t d : request.domains) sink = sink + static_cast<float>(d);
  }
  std::vector<float> logits(5);
  if (DecodeTeacherReply(bytes, 5, logits.data()).ok()) {
    for (const float f : logits) sink = sink + f;
  }
  return 0;
}
