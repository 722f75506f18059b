#include "worker/teacher.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/checksum.h"
#include "core/parallel.h"
#include "experts/zoo/two_tower.h"
#include "proto/text_config.h"
#include "scheduler/checkpointer.h"
#include "worker/step_runner.h"
#include "worker/trainer.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

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

const DistillConfig& Distill(const JobConfig& config) {
  return config.model().two_tower().distill();
}

// Loads a teacher checkpoint's dense parameters into `params` (as prefix + name).
Status LoadTeacherParams(const std::string& checkpoint, ParameterSet* params,
                         std::string_view prefix) {
  const std::string path = (fs::path(checkpoint) / "dense.bin").string();
  std::string p, o, a;
  RETURN_IF_ERROR(JobCheckpointer::ReadDense(path, &p, &o, &a));
  auto teacher = [prefix](const Parameter& q) { return q.name.rfind(prefix, 0) == 0; };
  Status loaded = params->LoadFrom(p, teacher, nullptr, prefix);
  if (!loaded.ok()) {
    return Status(loaded.code(), path + ": the teacher's parameters do not fit the teacher of " +
                                     "this config (model.two_tower.distill.teacher must be the " +
                                     "teacher job's model): " + std::string(loaded.message()));
  }
  return Status::OK();
}

}  // namespace

bool HasOfflineTeacher(const JobConfig& config) {
  return config.model().has_two_tower() && config.model().two_tower().has_distill() &&
         Distill(config).mode() == DistillConfig::OFFLINE;
}

TableRenames TeacherTableRenames(const JobConfig& config) {
  TableRenames renames;
  std::set<std::string> seen;
  for (const SlotSpec& slot : config.data().slots()) {
    const std::string from = slot.has_table() ? slot.table() : slot.name();
    if (!seen.insert(from).second) continue;
    renames.emplace_back(from, TeacherTableName(config, slot));
  }
  return renames;
}

Status ImportTeacher(const JobConfig& config, Communicator* workers, ParameterSet* params,
                     EmbeddingStore* store, std::string* checkpoint) {
  const std::string& run_dir = Distill(config).teacher_run_dir();
  StatusOr<std::string> found = JobCheckpointer::FindFinalState(run_dir, workers);
  if (!found.ok()) {
    return Status(
        found.status().code(),
        "model.two_tower.distill.teacher_run_dir: " + std::string(found.status().message()) +
            " (train the teacher first, with checkpoints on: moerec train "
            "--config=<the teacher's config> --run_dir=" +
            run_dir + ")");
  }
  *checkpoint = *found;
  if (params != nullptr) RETURN_IF_ERROR(LoadTeacherParams(*checkpoint, params, kTeacherPrefix));
  return store->ImportTables((fs::path(*checkpoint) / "ps").string(), TeacherTableRenames(config));
}

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

Status RemoteTeacher::Start(ConstMatView features, const int32_t* domains) {
  CHECK_LT(pending_, 0) << "RemoteTeacher::Start with a request out";
  RETURN_IF_ERROR(
      messenger_->Send(teacher_rank_, kTeacherRequestTag, EncodeTeacherRequest(features, domains)));
  pending_ = features.rows;
  return Status::OK();
}

Status RemoteTeacher::Finish(MatView logits) {
  CHECK_GE(pending_, 0) << "RemoteTeacher::Finish without a request";
  CHECK_EQ(logits.rows, pending_);
  const int64_t n = pending_;
  pending_ = -1;
  int from = -1;
  RETURN_IF_ERROR(messenger_->Receive(teacher_rank_, kTeacherReplyTag, &reply_, &from));
  std::vector<float> values(n);
  Status s = DecodeTeacherReply(reply_, n, values.data());
  if (!s.ok()) {
    return Status(s.code(), "teacher rank " + std::to_string(teacher_rank_) + ": " +
                                std::string(s.message()));
  }
  for (int64_t i = 0; i < n; ++i) logits.row(i)[0] = values[i];
  return Status::OK();
}

Status RemoteTeacher::Done() {
  return messenger_->Send(teacher_rank_, kTeacherRequestTag, EncodeTeacherDone());
}

Status ServeTeacher(const JobConfig& config, Messenger* messenger,
                    const std::vector<int>& clients) {
  SetComputeThreads(ResolveComputeThreads(config.train().threads()));
  const ModelShape shape = DistillTeacherShape(ModelShapeFromConfig(config));
  ASSIGN_OR_RETURN(std::unique_ptr<Model> teacher,
                   CreateModel(Distill(config).teacher(), shape, config.train().seed() + 17));
  SelfCommunicator self;
  StatusOr<std::string> checkpoint =
      JobCheckpointer::FindFinalState(Distill(config).teacher_run_dir(), &self);
  if (!checkpoint.ok()) {
    return Status(checkpoint.status().code(), "model.two_tower.distill.teacher_run_dir: " +
                                                  std::string(checkpoint.status().message()));
  }
  RETURN_IF_ERROR(LoadTeacherParams(*checkpoint, teacher->params(), ""));
  LOG(INFO) << "teacher rank " << messenger->rank() << ": the teacher from " << *checkpoint
            << ", serving " << clients.size() << " worker(s)";

  std::set<int> open(clients.begin(), clients.end());
  std::string bytes;
  TeacherRequest request;
  Tensor logits;
  ModelBatch batch;
  batch.training = false;
  int64_t served = 0;
  while (!open.empty()) {
    int from = -1;
    RETURN_IF_ERROR(messenger->Receive(Messenger::kAnySource, kTeacherRequestTag, &bytes, &from));
    Status valid =
        open.count(from) == 0
            ? FailedPrecondition("teacher request from rank " + std::to_string(from) +
                                 ", which this teacher rank does not serve (or that "
                                 "said it was done)")
            : DecodeTeacherRequest(bytes, shape.num_features, shape.num_domains, &request);
    if (valid.ok() && request.pairs < 0) {
      open.erase(from);
      continue;
    }
    if (!valid.ok()) {
      LOG(ERROR) << "teacher rank " << messenger->rank() << ": " << valid;
      RETURN_IF_ERROR(
          messenger->Send(from, kTeacherReplyTag, EncodeTeacherReply(valid, nullptr, 0)));
      continue;
    }
    const int64_t n = request.pairs;
    batch.size = n;
    batch.features =
        ConstMatView(request.features.data(), n, shape.num_features, shape.num_features);
    batch.domain = request.domains.data();
    batch.domain_begin.assign(shape.num_domains + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++batch.domain_begin[request.domains[i] + 1];
    for (int d = 0; d < shape.num_domains; ++d) batch.domain_begin[d + 1] += batch.domain_begin[d];
    logits.Resize({std::max<int64_t>(n, 1), 1});
    if (n > 0) teacher->Forward(batch, MatView{logits.data(), n, 1, 1});
    RETURN_IF_ERROR(messenger->Send(from, kTeacherReplyTag,
                                    EncodeTeacherReply(Status::OK(), logits.data(), n)));
    served += n;
  }
  LOG(INFO) << "teacher rank " << messenger->rank() << ": scored " << served << " pairs";
  return Status::OK();
}

}  // namespace moerec
