// Fuzzes the parameter-server wire decoder (ps/wire.h) on both sides: a server decoding a
// request and a client decoding the reply to a pull. Decoding validates everything; the views it
// returns are read through, so that ASan sees any that point outside the frame.
#include <cstring>
#include <vector>

#include "ps/wire.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

float Touch(const std::vector<moerec::SliceView>& slices) {
  float sum = 0;
  for (const moerec::SliceView& s : slices) {
    for (uint32_t i = 0; i < s.num_keys; ++i) {
      if (s.keys != nullptr) sum += static_cast<float>(s.keys[i] & 1);
      if (s.values != nullptr) {
        for (int d = 0; d < s.dim; ++d) sum += s.values[static_cast<size_t>(i) * s.dim + d];
      }
    }
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moerec;
  // Frames arrive 8-byte aligned (the receiver allocates them so).
  std::vector<uint64_t> aligned((size + 7) / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  const std::string_view frame(reinterpret_cast<const char*>(aligned.data()), size);
  const std::vector<TableShape> tables = {{8}, {4}, {1}};

  PsRequest request;
  std::vector<SliceView> slices;
  volatile float sink = 0;
  if (DecodeRequest(frame, tables, &request, &slices).ok()) sink = sink + Touch(slices);

  // The reply to a pull of 3 keys of table 0 and 2 of table 1.
  const uint64_t keys[5] = {1, 2, 3, 4, 5};
  const std::vector<SliceView> asked = {{0, 8, 3, keys, nullptr}, {1, 4, 2, keys + 3, nullptr}};
  PsReply reply;
  std::vector<SliceView> rows;
  if (DecodeReply(frame, /*expected_request_id=*/7, asked, &reply, &rows).ok()) {
    sink = sink + Touch(rows);
  }
  return 0;
}
