#include "scheduler/checkpointer.h"

#include <glog/logging.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/checksum.h"
#include "core/file_util.h"
#include "ps/checkpoint.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kJobCheckpointVersion = 1;
constexpr char kDenseMagic[] = "MRDENSE1";
constexpr char kPrefix[] = "step-";

std::string NameOfStep(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%010lld", kPrefix, static_cast<long long>(step));
  return buf;
}

// Checkpoint folders under root, newest first.
std::vector<std::string> ListByAge(const std::string& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(kPrefix, 0) == 0) names.push_back(name);
  }
  std::sort(names.rbegin(), names.rend());
  return names;
}

void AppendU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<char*>(&v), 8); }

// Collective: OK on every worker only when `local` is OK on every worker. A worker whose own
// part went well gets the first failing worker's status, with its code and message, so that
// every rank reports the same cause (and exits with the same status).
Status Agree(Communicator* workers, const Status& local, const char* what) {
  double failed = local.ok() ? 0.0 : 1.0;
  RETURN_IF_ERROR(workers->AllReduceMax(&failed, 1));
  if (failed == 0) return Status::OK();
  std::vector<std::string> all;
  const std::string mine =
      local.ok() ? "" : std::to_string(static_cast<int>(local.code())) + " " + local.message();
  RETURN_IF_ERROR(workers->AllGather(mine, &all));
  if (!local.ok()) return local;
  for (size_t w = 0; w < all.size(); ++w) {
    if (all[w].empty()) continue;
    const size_t space = all[w].find(' ');
    const int code = std::atoi(all[w].substr(0, space).c_str());
    const StatusCode c = code >= 1 && code <= kLastStatusCode ? static_cast<StatusCode>(code)
                                                              : StatusCode::kUnavailable;
    return Status(c, std::string(what) + " failed on worker " + std::to_string(w) + ": " +
                         (space == std::string::npos ? "" : all[w].substr(space + 1)));
  }
  return Unavailable(std::string(what) + " failed on another worker");
}

// Collective: every worker gets worker 0's *text.
Status BroadcastString(Communicator* workers, std::string* text) {
  uint64_t length = text->size();
  RETURN_IF_ERROR(workers->Broadcast(&length, sizeof(length), 0));
  text->resize(length);
  if (length > 0) RETURN_IF_ERROR(workers->Broadcast(text->data(), length, 0));
  return Status::OK();
}

// Fault injection for the tests of DESIGN.md §9 (tests/fault_tolerance_test.py):
// MOEREC_FAULT_KILL_IN_CHECKPOINT=<step>:<point> makes the chief SIGKILL itself while it writes
// the checkpoint of that step, at `point`: "ps" (every server has written its part, the ps
// MANIFEST is not written yet) or "dense" (dense.bin is written, the MANIFEST is not). Unset in
// real jobs; the variable is read at the moment only, so a restarted job without it goes on.
void MaybeDieInCheckpoint(int64_t step, const char* point) {
  const char* spec = std::getenv("MOEREC_FAULT_KILL_IN_CHECKPOINT");
  if (spec == nullptr) return;
  const std::string want = std::to_string(step) + ":" + point;
  if (want != spec) return;
  LOG(ERROR) << "MOEREC_FAULT_KILL_IN_CHECKPOINT=" << spec << ": killing this rank";
  google::FlushLogFiles(google::GLOG_INFO);
  std::raise(SIGKILL);
}

}  // namespace

JobCheckpointer::JobCheckpointer(const CheckpointConfig& config, const std::string& run_dir,
                                 Communicator* workers, EmbeddingStore* store, int num_servers)
    : config_(config),
      root_((fs::path(run_dir) / "checkpoints").string()),
      workers_(workers),
      store_(store),
      num_servers_(num_servers),
      last_write_(std::chrono::steady_clock::now()) {}

std::string JobCheckpointer::PathOf(const std::string& name) const {
  return name.find('/') != std::string::npos ? name : (fs::path(root_) / name).string();
}

bool JobCheckpointer::DueByStep(int64_t step) const {
  return config_.every_steps() > 0 && step > 0 && step % config_.every_steps() == 0;
}

bool JobCheckpointer::DueByTime() const {
  if (config_.every_minutes() <= 0) return false;
  const double minutes =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - last_write_).count() / 60;
  return minutes >= config_.every_minutes();
}

Status JobCheckpointer::WriteDense(const std::string& path, const ParameterSet& params,
                                   const DenseOptimizer& optimizer,
                                   const DenseOptimizer* arch_optimizer, CheckpointFile* file,
                                   const ParameterSet::Filter& keep) const {
  std::string p, o;
  RETURN_IF_ERROR(params.SaveTo(&p, keep));
  RETURN_IF_ERROR(optimizer.SaveState(&o, keep));
  std::string bytes(kDenseMagic, 8);
  AppendU64(&bytes, p.size());
  bytes += p;
  AppendU64(&bytes, o.size());
  bytes += o;
  if (arch_optimizer != nullptr) {
    std::string a;
    RETURN_IF_ERROR(arch_optimizer->SaveState(&a));
    AppendU64(&bytes, a.size());
    bytes += a;
  }
  RETURN_IF_ERROR(WriteFileAtomically(path, bytes));
  file->set_name(fs::path(path).filename().string());
  file->set_size(bytes.size());
  file->set_crc32(Crc32(bytes));
  return Status::OK();
}

Status JobCheckpointer::ReadDense(const std::string& path, std::string* params,
                                  std::string* optimizer, std::string* arch_optimizer) {
  std::string bytes;
  RETURN_IF_ERROR(ReadFileToString(path, &bytes));
  auto bad = [&](const std::string& what) { return Corruption(path + ": " + what); };
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kDenseMagic, 8) != 0) {
    return bad("not a moerec dense checkpoint (bad magic)");
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes.data() + 8, 8);
  if (n > bytes.size() - 16) return bad("parameter section runs past the end of the file");
  *params = bytes.substr(16, n);
  const size_t at = 16 + n;
  if (bytes.size() - at < 8) return bad("optimizer section is missing");
  uint64_t m = 0;
  std::memcpy(&m, bytes.data() + at, 8);
  if (m > bytes.size() - at - 8) return bad("optimizer section runs past the end of the file");
  *optimizer = bytes.substr(at + 8, m);
  // The architecture optimizer's section, present when the job had one.
  const size_t arch_at = at + 8 + m;
  arch_optimizer->clear();
  if (arch_at == bytes.size()) return Status::OK();
  if (bytes.size() - arch_at < 8) return bad("architecture optimizer section is truncated");
  uint64_t a = 0;
  std::memcpy(&a, bytes.data() + arch_at, 8);
  if (a != bytes.size() - arch_at - 8) {
    return bad("architecture optimizer section has the wrong length");
  }
  *arch_optimizer = bytes.substr(arch_at + 8, a);
  return Status::OK();
}

Status JobCheckpointer::Verify(const std::string& dir, JobCheckpointManifest* manifest) {
  RETURN_IF_ERROR(ReadManifest((fs::path(dir) / kManifestName).string(), manifest));
  if (manifest->format_version() != kJobCheckpointVersion) {
    return Corruption(dir + "/MANIFEST: format_version " +
                      std::to_string(manifest->format_version()) + ", this build reads " +
                      std::to_string(kJobCheckpointVersion));
  }
  std::vector<CheckpointFile> files = {manifest->dense(), manifest->ps_manifest()};
  files.insert(files.end(), manifest->expert_files().begin(), manifest->expert_files().end());
  for (const CheckpointFile& f : files) {
    if (!IsSafeCheckpointFileName(f.name())) {
      return Corruption(dir + "/MANIFEST lists an unsafe file name \"" + f.name() +
                        "\" (a checkpoint's files stay inside its folder)");
    }
    const std::string path = (fs::path(dir) / f.name()).string();
    uint64_t size = 0;
    uint32_t crc = 0;
    RETURN_IF_ERROR(ChecksumFile(path, &size, &crc));
    if (size != f.size() || crc != f.crc32()) {
      return Corruption(path + ": size or crc32 differs from " + dir +
                        "/MANIFEST (the checkpoint is damaged)");
    }
  }
  return VerifyCheckpoint((fs::path(dir) / "ps").string());
}

namespace {

// The identity of `config`'s model: its kind, a fingerprint of the model section and the
// embedding tables' shapes, and the data schema in words.
JobCheckpointManifest ModelIdentity(const JobConfig& config) {
  JobCheckpointManifest id;
  const ModelConfig& m = config.model();
  const auto* kind = m.GetDescriptor()->FindFieldByNumber(m.kind_case());
  id.set_model_kind(kind == nullptr ? "none" : kind->name());
  std::string shape;
  google::protobuf::TextFormat::PrintToString(m, &shape);
  for (const TableConfig& t : config.tables()) {
    shape += "table " + t.name() + " dim " + std::to_string(t.dim()) + "\n";
  }
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08x", Crc32(shape));
  id.set_model_fingerprint(hex);
  id.set_model_text(shape);
  const DataConfig& d = config.data();
  auto join = [](const auto& list) {
    std::string out;
    for (const auto& x : list) out += (out.empty() ? "" : ",") + x;
    return out;
  };
  std::vector<std::string> slots;
  for (const SlotSpec& s : d.slots()) slots.push_back(s.name());
  id.set_schema(std::to_string(d.num_domains()) + " domains (" + join(d.domain_names()) + "), " +
                std::to_string(d.num_tasks()) + " tasks (" + join(d.task_names()) + "), slots " +
                join(slots) + ", " + std::to_string(d.num_dense()) + " dense");
  return id;
}

}  // namespace

void JobCheckpointer::RecordModel(const JobConfig& config) { model_ = ModelIdentity(config); }

Status JobCheckpointer::CheckModel(const std::string& dir, const JobCheckpointManifest& manifest,
                                   const JobConfig& config) {
  if (!manifest.has_model_fingerprint()) return Status::OK();
  const JobCheckpointManifest want = ModelIdentity(config);
  if (manifest.schema() != want.schema()) {
    return FailedPrecondition(dir + " is a model of other data: its schema is " +
                              manifest.schema() + "; the config's is " + want.schema());
  }
  if (manifest.model_fingerprint() != want.model_fingerprint()) {
    // Name the first line of the model's text that differs.
    std::istringstream have(manifest.model_text()), config_text(want.model_text());
    std::string a, b, differs;
    while (differs.empty()) {
      const bool more_a = static_cast<bool>(std::getline(have, a));
      const bool more_b = static_cast<bool>(std::getline(config_text, b));
      if (!more_a && !more_b) break;
      a = more_a ? a.substr(std::min(a.size(), a.find_first_not_of(' '))) : "(nothing)";
      b = more_b ? b.substr(std::min(b.size(), b.find_first_not_of(' '))) : "(nothing)";
      if (a != b) {
        differs =
            "; first difference: \"" + a + "\" in the checkpoint, \"" + b + "\" in the config";
      }
    }
    return FailedPrecondition(dir + " is a checkpoint of another model: " + manifest.model_kind() +
                              " (fingerprint " + manifest.model_fingerprint() +
                              ") in the checkpoint, " + want.model_kind() + " (fingerprint " +
                              want.model_fingerprint() + ") in the config" + differs);
  }
  return Status::OK();
}

Status JobCheckpointer::Write(const TrainerPosition& position, const ParameterSet& params,
                              const DenseOptimizer& optimizer, bool is_best, std::string* name,
                              const DenseOptimizer* arch_optimizer) {
  *name = NameOfStep(position.step);
  const std::string dir = PathOf(*name);
  const bool chief = workers_->rank() == 0;
  Status prepared;
  if (chief) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // a partial checkpoint of the same step from a killed run
    fs::create_directories(fs::path(dir) / "ps", ec);
    if (ec) prepared = IoError("create " + dir + ": " + ec.message());
  }
  RETURN_IF_ERROR(Agree(workers_, prepared, "preparing the checkpoint folder"));
  const bool incremental = config_.incremental() && written_ % config_.full_every() != 0;
  RETURN_IF_ERROR(store_->Checkpoint((fs::path(dir) / "ps").string(), position.step, incremental));
  // Every worker that holds expert-local parameters writes them; the chief lists the files.
  const auto expert_local = [](const Parameter& p) { return p.expert_local; };
  const auto replicated = [](const Parameter& p) { return !p.expert_local; };
  bool has_experts = false;
  for (const auto& p : params.params()) has_experts = has_experts || p->expert_local;
  Status experts_written;
  std::string mine;
  if (has_experts) {
    CheckpointFile file;
    experts_written = WriteDense(
        (fs::path(dir) / ("experts-" + std::to_string(workers_->rank()) + ".bin")).string(), params,
        optimizer, nullptr, &file, expert_local);
    file.SerializeToString(&mine);
  }
  RETURN_IF_ERROR(Agree(workers_, experts_written, "writing the expert parameters"));
  std::vector<std::string> expert_files;
  RETURN_IF_ERROR(workers_->AllGather(mine, &expert_files));
  Status finished;
  if (chief) {
    finished = [&]() -> Status {
      const std::string ps_dir = (fs::path(dir) / "ps").string();
      MaybeDieInCheckpoint(position.step, "ps");
      RETURN_IF_ERROR(FinishCheckpoint(ps_dir));
      JobCheckpointManifest manifest;
      manifest.set_format_version(kJobCheckpointVersion);
      manifest.set_step(position.step);
      manifest.set_epoch(position.epoch);
      manifest.set_epoch_batches(position.epoch_batches);
      manifest.set_epoch_done(position.epoch_done);
      manifest.set_num_workers(workers_->size());
      manifest.set_num_servers(num_servers_);
      manifest.set_best_step(position.best_step);
      manifest.set_best_val_mean_auc(position.best_val_mean_auc);
      manifest.set_evals_since_best(position.evals_since_best);
      manifest.set_best_checkpoint(is_best ? *name : position.best_checkpoint);
      manifest.set_is_best(is_best);
      manifest.MergeFrom(model_);
      RETURN_IF_ERROR(WriteDense((fs::path(dir) / "dense.bin").string(), params, optimizer,
                                 arch_optimizer, manifest.mutable_dense(), replicated));
      MaybeDieInCheckpoint(position.step, "dense");
      for (const std::string& f : expert_files) {
        if (!f.empty() && !manifest.add_expert_files()->ParseFromString(f)) {
          return Internal("a worker's expert file entry does not parse");
        }
      }
      CheckpointFile* ps = manifest.mutable_ps_manifest();
      ps->set_name(std::string("ps/") + kManifestName);
      uint64_t size = 0;
      uint32_t crc = 0;
      RETURN_IF_ERROR(ChecksumFile((fs::path(ps_dir) / kManifestName).string(), &size, &crc));
      ps->set_size(size);
      ps->set_crc32(crc);
      RETURN_IF_ERROR(WriteManifest((fs::path(dir) / kManifestName).string(), manifest));
      return CollectGarbage(manifest.best_checkpoint());
    }();
  }
  RETURN_IF_ERROR(Agree(workers_, finished, "writing the checkpoint"));
  ++written_;
  last_write_ = std::chrono::steady_clock::now();
  return Status::OK();
}

void JobCheckpointer::RemovePartial(int64_t step) {
  if (workers_->rank() != 0) return;
  const std::string dir = PathOf(NameOfStep(step));
  std::error_code ec;
  if (fs::exists(fs::path(dir) / kManifestName, ec)) return;  // whole after all: keep it
  fs::remove_all(dir, ec);
  if (ec) LOG(WARNING) << "could not remove the partial checkpoint " << dir << ": " << ec.message();
}

StatusOr<std::string> JobCheckpointer::FindLatest() const {
  // The chief decides and tells every worker: "W<name>" (the newest whole checkpoint), "N"
  // (nothing to resume from) or "R<listing>" (finished checkpoints exist, none is whole).
  std::string answer = "N";
  if (workers_->rank() == 0) {
    std::string refused;
    for (const std::string& name : ListByAge(root_)) {
      JobCheckpointManifest manifest;
      Status s = Verify(PathOf(name), &manifest);
      if (s.ok()) {
        answer = "W" + name;
        break;
      }
      LOG(WARNING) << "skipping checkpoint " << name << ": " << s.ToString();
      // A folder without its MANIFEST was never finished (the job died while writing it):
      // nothing in it was acknowledged. One with a MANIFEST was whole once and is damaged now.
      if (fs::exists(fs::path(PathOf(name)) / kManifestName)) {
        refused += "\n  " + name + ": " + s.ToString();
      }
    }
    if (answer == "N" && !refused.empty()) answer = "R" + refused;
  }
  RETURN_IF_ERROR(BroadcastString(workers_, &answer));
  if (answer[0] == 'W') return answer.substr(1);
  if (answer[0] == 'N') return NotFound("no finished checkpoint in " + root_);
  return FailedPrecondition(
      root_ + " holds finished checkpoints, but none is whole any more:" + answer.substr(1));
}

StatusOr<std::string> JobCheckpointer::FindFinalState(const std::string& run_dir,
                                                      Communicator* workers) {
  const JobCheckpointer other(CheckpointConfig(), run_dir, workers, nullptr, 0);
  ASSIGN_OR_RETURN(const std::string newest, other.FindLatest());
  std::string chosen = other.PathOf(newest);
  Status read;
  JobCheckpointManifest manifest;
  if (workers->rank() == 0) {
    read = ReadManifest((fs::path(chosen) / kManifestName).string(), &manifest);
  }
  RETURN_IF_ERROR(Agree(workers, read, "reading the checkpoint manifest"));
  if (workers->rank() == 0) {
    const std::string& best = manifest.best_checkpoint();
    if (!best.empty() && best != newest) {
      JobCheckpointManifest unused;
      if (Status s = Verify(other.PathOf(best), &unused); s.ok()) {
        chosen = other.PathOf(best);
      } else {
        LOG(WARNING) << "the best checkpoint " << best << " of " << run_dir << " is not whole ("
                     << s.ToString() << "); using the newest, " << newest;
      }
    }
  }
  RETURN_IF_ERROR(BroadcastString(workers, &chosen));
  return chosen;
}

StatusOr<std::string> JobCheckpointer::SetAside(const std::string& why) {
  std::string moved_to;
  Status local;
  if (workers_->rank() == 0) {
    std::error_code ec;
    if (fs::exists(root_, ec) && !fs::is_empty(root_, ec)) {
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      char stamp[32] = "0";
      if (gmtime_r(&now, &tm) != nullptr)
        std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
      moved_to = root_ + "." + why + "-" + stamp;
      for (int n = 1; fs::exists(moved_to, ec); ++n) {
        moved_to = root_ + "." + why + "-" + stamp + "-" + std::to_string(n);
      }
      local = RenameDurably(root_, moved_to);
    }
  }
  RETURN_IF_ERROR(Agree(workers_, local, "setting earlier checkpoints aside"));
  RETURN_IF_ERROR(BroadcastString(workers_, &moved_to));
  return moved_to;
}

bool JobCheckpointer::HasCheckpoints() const { return !ListByAge(root_).empty(); }

Status JobCheckpointer::LoadState(const std::string& name, int64_t step, ParameterSet* params) {
  const std::string dir = PathOf(name);
  RETURN_IF_ERROR(store_->Restore((fs::path(dir) / "ps").string(), step));
  std::string p, o;
  std::string a;
  RETURN_IF_ERROR(ReadDense((fs::path(dir) / "dense.bin").string(), &p, &o, &a));
  RETURN_IF_ERROR(params->LoadFrom(p, [](const Parameter& q) { return !q.expert_local; }));
  JobCheckpointManifest manifest;
  RETURN_IF_ERROR(ReadManifest((fs::path(dir) / kManifestName).string(), &manifest));
  return LoadExperts(dir, manifest, params, nullptr);
}

Status JobCheckpointer::LoadExperts(const std::string& dir, const JobCheckpointManifest& manifest,
                                    ParameterSet* params, DenseOptimizer* optimizer) {
  const auto expert_local = [](const Parameter& q) { return q.expert_local; };
  std::vector<std::string> found;
  for (const CheckpointFile& f : manifest.expert_files()) {
    std::string p, o, a;
    const std::string path = (fs::path(dir) / f.name()).string();
    RETURN_IF_ERROR(ReadDense(path, &p, &o, &a));
    Status s = params->LoadFrom(p, expert_local, &found);
    if (s.ok() && optimizer != nullptr) s = optimizer->LoadState(o, /*merge=*/true);
    if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  }
  std::sort(found.begin(), found.end());
  for (const auto& q : params->params()) {
    if (q->expert_local && !std::binary_search(found.begin(), found.end(), q->name)) {
      return FailedPrecondition(dir + ": expert parameter '" + q->name +
                                "' is in none of the checkpoint's expert files (a checkpoint of "
                                "another model, or of a job without expert parallelism)");
    }
  }
  return Status::OK();
}

Status JobCheckpointer::Load(const std::string& name, ParameterSet* params,
                             DenseOptimizer* optimizer, TrainerPosition* position,
                             DenseOptimizer* arch_optimizer) {
  const std::string dir = PathOf(name);
  JobCheckpointManifest manifest;
  Status verified = workers_->rank() == 0
                        ? Verify(dir, &manifest)
                        : ReadManifest((fs::path(dir) / kManifestName).string(), &manifest);
  RETURN_IF_ERROR(Agree(workers_, verified, "verifying the checkpoint"));
  // Expert parameters are re-placed onto any number of workers; the data position belongs to
  // a share of the data that depends on the worker count, so a different count resumes only
  // from a checkpoint at an epoch's end (or after a phase's last epoch).
  if (manifest.num_workers() != workers_->size() && manifest.epoch_batches() > 0 &&
      !manifest.epoch_done()) {
    // The data position (batches into the epoch) belongs to a share of the data that depends
    // on the worker count.
    return FailedPrecondition(dir + " was written by " + std::to_string(manifest.num_workers()) +
                              " workers; this job has " + std::to_string(workers_->size()) +
                              ": resume with the same number of workers (the number of "
                              "servers may change)");
  }
  RETURN_IF_ERROR(store_->Restore((fs::path(dir) / "ps").string(), manifest.step()));
  std::string p, o, a;
  RETURN_IF_ERROR(ReadDense((fs::path(dir) / "dense.bin").string(), &p, &o, &a));
  RETURN_IF_ERROR(params->LoadFrom(p, [](const Parameter& q) { return !q.expert_local; }));
  RETURN_IF_ERROR(optimizer->LoadState(o));
  RETURN_IF_ERROR(LoadExperts(dir, manifest, params, optimizer));
  // A job without an architecture optimizer ignores a saved one (the mode changed); one that
  // has it and finds none starts it fresh, as a PyTorch optimizer without state.
  if (arch_optimizer != nullptr && !a.empty()) RETURN_IF_ERROR(arch_optimizer->LoadState(a));
  position->step = manifest.step();
  position->epoch = manifest.epoch();
  position->epoch_batches = manifest.epoch_batches();
  position->epoch_done = manifest.epoch_done();
  position->best_step = manifest.best_step();
  position->best_val_mean_auc = manifest.best_val_mean_auc();
  position->evals_since_best = manifest.evals_since_best();
  position->best_checkpoint = manifest.best_checkpoint();
  last_write_ = std::chrono::steady_clock::now();
  return Status::OK();
}

Status JobCheckpointer::CollectGarbage(const std::string& best) {
  // Keep the newest keep_last whole checkpoints, the best one, and what they stand on.
  std::set<std::string> keep;
  std::vector<std::string> roots;
  const std::vector<std::string> names = ListByAge(root_);
  int whole = 0;
  std::string newest_whole;
  for (const std::string& name : names) {
    if (!fs::exists(fs::path(PathOf(name)) / kManifestName)) continue;
    if (newest_whole.empty()) newest_whole = name;
    if (whole++ < config_.keep_last()) roots.push_back(name);
  }
  if (!best.empty()) roots.push_back(best);
  for (const std::string& name : roots) {
    StatusOr<std::vector<CheckpointLevel>> chain =
        LoadCheckpointChain((fs::path(PathOf(name)) / "ps").string());
    keep.insert(name);
    if (!chain.ok()) continue;
    for (const CheckpointLevel& level : *chain) {
      // level.dir is <root>/<name>/ps
      keep.insert(fs::path(level.dir).lexically_normal().parent_path().filename().string());
    }
  }
  for (const std::string& name : names) {
    // Partial folders newer than the newest whole checkpoint may be another writer's; there is
    // none while the chief collects, but be conservative.
    if (keep.count(name) || (!newest_whole.empty() && name > newest_whole)) continue;
    std::error_code ec;
    fs::remove_all(PathOf(name), ec);
    if (ec) LOG(WARNING) << "could not delete old checkpoint " << name << ": " << ec.message();
  }
  return Status::OK();
}

}  // namespace moerec
