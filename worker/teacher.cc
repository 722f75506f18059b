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
