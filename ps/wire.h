// Framing of parameter-server messages (schema: proto/wire.proto).
//
//   u32 magic "MRPS" | u32 header_len | header bytes | payload bytes
//
// The payload starts at the next multiple of 8 after the header and holds, for each table slice
// of the header in order: in requests, keys u64[num_keys], then — for PUSH — gradients
// f32[num_keys * dim]; in replies to pulls, rows f32[num_keys * dim] (the client knows the keys
// it asked for, in the same order). All little-endian; the payload's CRC-32 is in the header.
// Decoding validates everything before any of it is used: magic, lengths, header parse, op, slice
// fields (table in range, dim equal to the table's, counts within limits), payload size equal to
// what the slices describe, checksum. A bad message gives InvalidArgument or Corruption naming the
// field; never a crash. Views returned by decoding point into the frame and live as long as it.
// Thread-safety: pure functions.
#ifndef MOEREC_PS_WIRE_H_
#define MOEREC_PS_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "proto/wire.pb.h"

namespace moerec {

inline constexpr uint32_t kPsMagic = 0x5350524du;  // "MRPS" little-endian
inline constexpr uint32_t kMaxHeaderBytes = 1u << 20;
inline constexpr uint64_t kMaxKeysPerMessage = 1ull << 28;

// MPI tags on the parameter-server communicator: requests to a server on one tag, each reply
// on a tag derived from its request id (so a client can wait for one reply among many).
inline constexpr int kPsRequestTag = 1;
inline constexpr int kPsReplyTagBase = 1000;
inline constexpr int kPsReplyTagSpace = 16384;
inline int PsReplyTag(uint64_t request_id) {
  return kPsReplyTagBase + static_cast<int>(request_id % kPsReplyTagSpace);
}

// One table's part of a message, pointing into a frame (or into the caller's buffers when
// encoding).
struct SliceView {
  int table = 0;
  int dim = 0;
  uint32_t num_keys = 0;
  const uint64_t* keys = nullptr;  // (num_keys); null in replies
  const float* values = nullptr;   // (num_keys, dim) or null when the op carries none
};

// Does a request with this op carry values after the keys?
bool RequestHasValues(PsOp op);

// Builds a frame from `slices` (their keys when `with_keys`, values when `with_values`). The
// header's slices and payload_crc are filled here.
void EncodeFrame(google::protobuf::MessageLite* header, const std::vector<SliceView>& slices,
                 bool with_keys, bool with_values, std::string* frame);

// What a server knows of its tables, to validate requests.
struct TableShape {
  int dim = 0;
};

// Parses and validates a request frame. On success *request holds the header and *slices
// point into `frame` (which must be 8-byte aligned: the receiver allocates it so).
Status DecodeRequest(std::string_view frame, const std::vector<TableShape>& tables,
                     PsRequest* request, std::vector<SliceView>* slices);

// Parses and validates a reply to the request with `expected_request_id` whose slices were
// `expected_slices` (a pull's reply must carry rows for exactly those slices; other replies
// carry none). `frame` must be 8-byte aligned.
Status DecodeReply(std::string_view frame, uint64_t expected_request_id,
                   const std::vector<SliceView>& expected_slices, PsReply* reply,
                   std::vector<SliceView>* slices);

}  // namespace moerec

#endif  // MOEREC_PS_WIRE_H_
