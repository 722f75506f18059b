#include "ps/wire.h"

#include <cstring>

#include "core/checksum.h"

namespace moerec {
namespace {

constexpr size_t kPrefix = 8;  // magic + header_len

// Splits a frame into header bytes and payload after checking the prefix.
Status SplitFrame(std::string_view frame, std::string_view* header, std::string_view* payload) {
  if (frame.size() < kPrefix) {
    return InvalidArgument("ps message of " + std::to_string(frame.size()) +
                           " bytes is shorter than its 8-byte prefix");
  }
  uint32_t magic = 0, header_len = 0;
  std::memcpy(&magic, frame.data(), 4);
  std::memcpy(&header_len, frame.data() + 4, 4);
  if (magic != kPsMagic) return InvalidArgument("ps message: bad magic (not a moerec message)");
  if (header_len > kMaxHeaderBytes || header_len > frame.size() - kPrefix) {
    return InvalidArgument("ps message: header_len " + std::to_string(header_len) +
                           " exceeds the message (" + std::to_string(frame.size()) + " bytes)");
  }
  *header = frame.substr(kPrefix, header_len);
  // The payload starts at the next multiple of 8, so keys and values are aligned.
  size_t start = kPrefix + header_len;
  start = (start + 7) / 8 * 8;
  if (start > frame.size()) start = frame.size();
  *payload = frame.substr(start);
  return Status::OK();
}

// Lays the payload of `slices` (described by `described`) over `payload` and checks its size.
Status MapPayload(std::string_view payload,
                  const google::protobuf::RepeatedPtrField<PsTableSlice>& described, bool with_keys,
                  bool with_values, const char* what, std::vector<SliceView>* slices) {
  uint64_t need = 0;
  slices->clear();
  for (const PsTableSlice& s : described) {
    if (with_keys) need += static_cast<uint64_t>(s.num_keys()) * 8;
    if (with_values) need += static_cast<uint64_t>(s.num_keys()) * s.dim() * 4;
  }
  if (need != payload.size()) {
    return InvalidArgument(std::string(what) + ": payload is " + std::to_string(payload.size()) +
                           " bytes; its slices describe " + std::to_string(need));
  }
  const char* p = payload.data();
  for (const PsTableSlice& s : described) {
    SliceView v;
    v.table = s.table();
    v.dim = s.dim();
    v.num_keys = s.num_keys();
    if (with_keys) {
      v.keys = reinterpret_cast<const uint64_t*>(p);
      p += static_cast<size_t>(s.num_keys()) * 8;
    }
    if (with_values) {
      v.values = reinterpret_cast<const float*>(p);
      p += static_cast<size_t>(s.num_keys()) * s.dim() * 4;
    }
    slices->push_back(v);
  }
  return Status::OK();
}

Status CheckSliceCounts(const google::protobuf::RepeatedPtrField<PsTableSlice>& described,
                        const char* what) {
  uint64_t total = 0;
  for (int i = 0; i < described.size(); ++i) {
    const PsTableSlice& s = described[i];
    const std::string at = std::string(what) + ".tables[" + std::to_string(i) + "]";
    if (!s.has_table() || !s.has_num_keys() || !s.has_dim()) {
      return InvalidArgument(at + ": table, num_keys and dim are required");
    }
    if (s.dim() < 1 || s.dim() > 4096) {
      return InvalidArgument(at + ".dim: must be in [1, 4096], got " + std::to_string(s.dim()));
    }
    total += s.num_keys();
    if (total > kMaxKeysPerMessage) {
      return InvalidArgument(at + ".num_keys: more than " + std::to_string(kMaxKeysPerMessage) +
                             " keys in one message");
    }
  }
  return Status::OK();
}

}  // namespace

bool RequestHasValues(PsOp op) { return op == PS_PUSH; }

void EncodeFrame(google::protobuf::MessageLite* header, const std::vector<SliceView>& slices,
                 bool with_keys, bool with_values, std::string* frame) {
  // The payload's CRC goes into the header, so it is computed over the sources first; the
  // payload is then copied once, straight into the frame.
  uint32_t crc = 0;
  size_t payload_size = 0;
  auto feed = [&](const void* data, size_t bytes) {
    crc = Crc32Extend(crc, data, bytes);
    payload_size += bytes;
  };
  for (const SliceView& s : slices) {
    if (with_keys) feed(s.keys, static_cast<size_t>(s.num_keys) * 8);
    if (with_values) feed(s.values, static_cast<size_t>(s.num_keys) * s.dim * 4);
  }
  google::protobuf::RepeatedPtrField<PsTableSlice>* described = nullptr;
  if (auto* req = dynamic_cast<PsRequest*>(header)) {
    described = req->mutable_tables();
    req->set_payload_crc(static_cast<uint32_t>(crc));
  } else if (auto* rep = dynamic_cast<PsReply*>(header)) {
    described = rep->mutable_tables();
    rep->set_payload_crc(static_cast<uint32_t>(crc));
  } else {
    LOG(FATAL) << "EncodeFrame: header must be a PsRequest or PsReply";
  }
  described->Clear();
  for (const SliceView& s : slices) {
    PsTableSlice* d = described->Add();
    d->set_table(s.table);
    d->set_num_keys(s.num_keys);
    d->set_dim(s.dim);
  }
  const std::string head = header->SerializeAsString();
  const uint32_t header_len = static_cast<uint32_t>(head.size());
  const size_t start = (kPrefix + head.size() + 7) / 8 * 8;
  frame->resize(start + payload_size);
  char* out = frame->data();
  std::memcpy(out, &kPsMagic, 4);
  std::memcpy(out + 4, &header_len, 4);
  std::memcpy(out + kPrefix, head.data(), head.size());
  std::memset(out + kPrefix + head.size(), 0, start - kPrefix - head.size());
  char* p = out + start;
  for (const SliceView& s : slices) {
    if (with_keys) {
      std::memcpy(p, s.keys, static_cast<size_t>(s.num_keys) * 8);
      p += static_cast<size_t>(s.num_keys) * 8;
    }
    if (with_values) {
      const size_t bytes = static_cast<size_t>(s.num_keys) * s.dim * 4;
      std::memcpy(p, s.values, bytes);
      p += bytes;
    }
  }
}

Status DecodeRequest(std::string_view frame, const std::vector<TableShape>& tables,
                     PsRequest* request, std::vector<SliceView>* slices) {
  std::string_view header, payload;
  RETURN_IF_ERROR(SplitFrame(frame, &header, &payload));
  if (!request->ParseFromArray(header.data(), static_cast<int>(header.size()))) {
    return InvalidArgument("ps request: header is not a valid PsRequest");
  }
  if (!PsOp_IsValid(request->op()) || request->op() == PS_OP_UNKNOWN) {
    return InvalidArgument("ps request.op: unknown op " + std::to_string(request->op()));
  }
  if (!request->has_request_id()) return InvalidArgument("ps request.request_id is missing");
  if (request->worker() < 0) {
    return InvalidArgument("ps request.worker: must be >= 0, got " +
                           std::to_string(request->worker()));
  }
  if (request->step() < 0) {
    return InvalidArgument("ps request.step: must be >= 0, got " + std::to_string(request->step()));
  }
  RETURN_IF_ERROR(CheckSliceCounts(request->tables(), "ps request"));
  for (int i = 0; i < request->tables_size(); ++i) {
    const PsTableSlice& s = request->tables(i);
    const std::string at = "ps request.tables[" + std::to_string(i) + "]";
    if (s.table() < 0 || s.table() >= static_cast<int>(tables.size())) {
      return InvalidArgument(at + ".table: " + std::to_string(s.table()) + " is not in [0, " +
                             std::to_string(tables.size()) + ")");
    }
    if (s.dim() != tables[s.table()].dim) {
      return InvalidArgument(at + ".dim: " + std::to_string(s.dim()) + " but table " +
                             std::to_string(s.table()) + " has dim " +
                             std::to_string(tables[s.table()].dim));
    }
  }
  if (Crc32(payload.data(), payload.size()) != request->payload_crc()) {
    return Corruption("ps request: payload checksum mismatch");
  }
  return MapPayload(payload, request->tables(), true, RequestHasValues(request->op()), "ps request",
                    slices);
}

Status DecodeReply(std::string_view frame, uint64_t expected_request_id,
                   const std::vector<SliceView>& expected_slices, PsReply* reply,
                   std::vector<SliceView>* slices) {
  std::string_view header, payload;
  RETURN_IF_ERROR(SplitFrame(frame, &header, &payload));
  if (!reply->ParseFromArray(header.data(), static_cast<int>(header.size()))) {
    return InvalidArgument("ps reply: header is not a valid PsReply");
  }
  if (reply->request_id() != expected_request_id) {
    return InvalidArgument("ps reply.request_id: " + std::to_string(reply->request_id()) +
                           ", expected " + std::to_string(expected_request_id));
  }
  if (reply->code() != 0) return Status::OK();  // the caller turns it into its Status
  RETURN_IF_ERROR(CheckSliceCounts(reply->tables(), "ps reply"));
  if (Crc32(payload.data(), payload.size()) != reply->payload_crc()) {
    return Corruption("ps reply: payload checksum mismatch");
  }
  if (!expected_slices.empty() || reply->tables_size() > 0) {
    if (reply->tables_size() != static_cast<int>(expected_slices.size())) {
      return InvalidArgument("ps reply: " + std::to_string(reply->tables_size()) +
                             " table slices, expected " + std::to_string(expected_slices.size()));
    }
    for (int i = 0; i < reply->tables_size(); ++i) {
      const PsTableSlice& s = reply->tables(i);
      const SliceView& e = expected_slices[i];
      if (s.table() != e.table || s.dim() != e.dim || s.num_keys() != e.num_keys) {
        return InvalidArgument("ps reply.tables[" + std::to_string(i) +
                               "]: does not match the request (table, dim or num_keys)");
      }
    }
  }
  return MapPayload(payload, reply->tables(), false, true, "ps reply", slices);
}

}  // namespace moerec
