#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <thread>

#include "core/parallel.h"
#include "core/random.h"
#include "data/reader.h"
#include "embedding/gpu_row_cache.h"
#include "scheduler/checkpointer.h"
#include "worker/matching_eval.h"
#include "worker/metrics/metrics_log.h"
#include "worker/metrics/report_format.h"
#include "worker/metrics/tensorboard_log.h"
#include "worker/progress.h"
#include "worker/step_runner.h"
#include "worker/store_stats.h"
#include "worker/teacher.h"
#include "worker/training_stream.h"

namespace moerec {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string ModelKind(const ModelConfig& m) {
  const auto* field = m.GetDescriptor()->FindFieldByNumber(m.kind_case());
  return field == nullptr ? "none" : field->name();
}

}  // namespace

int ResolveComputeThreads(int configured) {
  if (configured > 0) return configured;
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(omp);
    if (n > 0) return n;
  }
  int local_ranks = 1;
  if (const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) {
    local_ranks = std::max(1, std::atoi(local));
  } else if (const char* slurm = std::getenv("SLURM_NTASKS_PER_NODE")) {
    local_ranks = std::max(1, std::atoi(slurm));
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / local_ranks);
}

class TrainerImpl {
 public:
  TrainerImpl(const JobConfig& config, const Trainer::Options& options, EmbeddingStore* store,
              Communicator* workers)
      : config_(config), options_(options), store_(store), workers_(workers) {}

  Status Init();
  StatusOr<Report> Run();
  StatusOr<Report> Evaluate(const std::string& split);
  StatusOr<std::unique_ptr<MatchingEvaluator::Export>> ExportMatching(const std::string& split);
  RetrievalOptions MatchingOptions() const {
    return matching_eval_ != nullptr ? matching_eval_->options() : RetrievalOptions();
  }
  int64_t step() const { return step_; }
  Status Predict(const std::vector<std::string>& paths, const Trainer::PredictionSink& sink);

 private:
  // Options::saved_model: verifies the checkpoint, checks it is a model of the config and
  // loads its state.
  Status LoadSavedModel();
  bool is_chief() const { return workers_->rank() == 0; }
  Status OpenReaders();
  // Adds the corpus retrieval figures of `split` to its report (matching models).
  StatusOr<Report> AddRetrieval(const std::string& split, Report report);
  // The validation figure early stopping selects on: the mean AUC, or the matching model's
  // retrieval.select figure.
  double SelectionValue(const Report& report) const;
  // Evaluates on validation, logs, and tracks the best state. Sets *stop for early stopping.
  Status Validate(int epoch, bool* stop);
  Status WriteLog(const JsonObject& line);
  void LogTrain(int epoch);
  // Resumes from the newest whole checkpoint when the config asks for it and one exists.
  Status MaybeResume();
  // Logs and records {"event":"fresh_start"}; `set_aside`: where earlier checkpoints went.
  Status FreshStart(const std::string& reason, const std::string& set_aside);
  TrainerPosition Position(int epoch) const;
  Status WriteCheckpoint(int epoch, bool is_best);
  // AUTOML architecture parameters: the next held-out batch of the validation split (cycling
  // through its epochs), and one architecture step on it.
  Status NextArchitectureBatch(Batch* out);
  Status ArchitectureStep();
  // Returns to the best validation state of the current phase (train.restore_best).
  Status RestoreBest();
  // The model's phases, or one phase of the train config's budget.
  std::vector<ModelPhase> TrainingPhases() const;
  // Switches the model to phase `index`, freezes what it does not train, resets early stopping
  // and logs {"event":"phase"} (named phases only).
  Status EnterPhase(int index, const ModelPhase& phase);

  const JobConfig config_;
  const Trainer::Options options_;
  EmbeddingStore* const store_;
  Communicator* const workers_;

  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<TrainingStream> train_stream_;
  std::unique_ptr<TrainingStream> arch_stream_;  // AUTOML: held-out batches
  int arch_epoch_ = 0;
  std::unique_ptr<DataReader> validation_reader_, test_reader_;
  // Matching models: the corpus retrieval evaluation, whose select() figure early stopping and
  // restore_best use instead of the mean AUC.
  std::unique_ptr<MatchingEvaluator> matching_eval_;
  std::unique_ptr<MetricsLog> log_;
  std::unique_ptr<TensorBoardLog> tb_;  // the metrics lines as TensorBoard events (chief)
  std::unique_ptr<Progress> progress_;
  std::unique_ptr<JobCheckpointer> checkpointer_;
  // The chief's window over the embedding store's counters (table sizes, hit rates) for the
  // "train" lines; null on other workers and after the store failed to give them.
  std::unique_ptr<StoreStatsWindow> store_stats_;

  int64_t step_ = 0;
  int start_epoch_ = 0;        // where the run starts (after a resume)
  int64_t skip_batches_ = 0;   // batches of start_epoch_ already trained on
  int64_t epoch_batches_ = 0;  // batches of the current epoch trained on
  // The current epoch's data are all trained on: a checkpoint now resumes at the next epoch's
  // start (on any number of workers), or, after its phase's last epoch, records that the
  // epoch's end work is done.
  bool epoch_complete_ = false;
  bool epoch_is_phase_end_ = false;
  // The resume's checkpoint was written after its epoch's end work: not done again.
  bool resumed_epoch_done_ = false;
  int64_t last_checkpoint_step_ = -1;
  // Seconds of the current reporting window spent evaluating and checkpointing, which the
  // window's samples/s leaves out.
  double paused_seconds_ = 0;
  int64_t total_steps_ = 0;
  Clock::time_point window_start_;

  // Early stopping.
  double best_auc_ = -std::numeric_limits<double>::infinity();
  int64_t best_step_ = -1;
  int evals_since_best_ = 0;
  int patience_ = 0;                // of the current phase
  std::vector<Tensor> best_dense_;  // without checkpoints: the best state in memory
  std::string best_checkpoint_;     // with checkpoints: the best state's checkpoint
};

Status TrainerImpl::Init() {
  const DataConfig& data = config_.data();
  SetComputeThreads(ResolveComputeThreads(config_.train().threads()));
  RETURN_IF_ERROR(OpenReaders());

  ASSIGN_OR_RETURN(runner_, StepRunner::Create(config_, store_, workers_, options_.teacher,
                                               options_.gpu, options_.device_workers));
  if (is_chief()) {
    std::vector<std::string> tables;
    for (const TableSpec& spec : TableSpecsFromConfig(config_)) tables.push_back(spec.name);
    store_stats_ = std::make_unique<StoreStatsWindow>(std::move(tables));
  }
  if (runner_->model()->matching() != nullptr &&
      (!config_.data().validation().empty() || !config_.data().test().empty())) {
    ASSIGN_OR_RETURN(matching_eval_, MatchingEvaluator::Create(config_, runner_.get(), workers_));
  }
  if (runner_->architecture_optimizer() != nullptr) {
    if (data.validation().empty()) {
      return InvalidArgument(
          "train.architecture.mode AUTOML steps the architecture parameters on held-out "
          "batches of the validation split, and data.validation is empty: give validation data, "
          "or set train.architecture.mode to JOINT or FROZEN");
    }
    std::vector<std::string> paths(data.validation().begin(), data.validation().end());
    // Its own shuffle seed, so held-out batches do not follow the evaluation order.
    ASSIGN_OR_RETURN(arch_stream_, TrainingStream::Open(paths, data.reader(),
                                                        HashCombine(config_.train().seed(), 0xa7c4),
                                                        workers_->rank(), workers_->size()));
    RETURN_IF_ERROR(arch_stream_->StartEpoch(0));
  }
  checkpointer_ = std::make_unique<JobCheckpointer>(
      config_.checkpoint(), options_.run_dir, workers_, store_, config_.cluster().num_servers());
  checkpointer_->RecordModel(config_);
  if (!options_.saved_model.empty()) return LoadSavedModel();

  if (is_chief()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.run_dir, ec);
    if (ec) return IoError("create run folder " + options_.run_dir + ": " + ec.message());
    ASSIGN_OR_RETURN(log_, MetricsLog::Open(options_.run_dir + "/metrics.jsonl"));
    if (options_.tb_flush_secs > 0) {
      ASSIGN_OR_RETURN(tb_, TensorBoardLog::Open(options_.run_dir + "/tb",
                                                 {.flush_secs = options_.tb_flush_secs}));
    }
  }

  // Planned steps, for the ETA: every worker takes one batch per step.
  const int64_t batch = data.reader().batch_size();
  const int64_t steps_per_epoch = (train_stream_->samples_per_epoch() + batch - 1) / batch;
  total_steps_ = steps_per_epoch * config_.train().epochs();
  const int64_t max_steps =
      options_.max_steps >= 0 ? options_.max_steps : config_.train().max_steps();
  if (max_steps > 0 && max_steps < total_steps_) total_steps_ = max_steps;
  progress_ = std::make_unique<Progress>(options_.interactive && is_chief(), total_steps_,
                                         config_.train().log_every_steps());

  JsonObject start;
  start.Add("event", "start")
      .Add("job", config_.name())
      .Add("model", ModelKind(config_.model()))
      .Add("dense_parameters", runner_->model()->params()->NumValues())
      .Add("workers", workers_->size())
      .Add("train_samples", train_stream_->samples_per_epoch() * workers_->size())
      .Add("planned_steps", total_steps_);
  RETURN_IF_ERROR(WriteLog(start));
  return MaybeResume();
}

Status TrainerImpl::FreshStart(const std::string& reason, const std::string& set_aside) {
  if (is_chief()) {
    LOG(INFO) << "starting from step 0: " << reason
              << (set_aside.empty() ? "" : "; earlier checkpoints moved to " + set_aside);
  }
  JsonObject line;
  line.Add("event", "fresh_start").Add("reason", reason);
  if (!set_aside.empty()) line.Add("set_aside", set_aside);
  RETURN_IF_ERROR(WriteLog(line));
  if (!HasOfflineTeacher(config_)) return Status::OK();
  // A teacher trained by its own job: its parameters (unless it runs on teacher ranks) and the
  // rows of its tables; a resume finds them in this run's checkpoints.
  const bool here = config_.model().two_tower().distill().placement() == DistillConfig::ON_WORKERS;
  std::string checkpoint;
  RETURN_IF_ERROR(ImportTeacher(config_, workers_, here ? runner_->model()->params() : nullptr,
                                store_, &checkpoint));
  RETURN_IF_ERROR(runner_->InvalidateRowCache());  // the teacher's tables were imported
  if (is_chief()) LOG(INFO) << "distilling from the teacher of " << checkpoint;
  JsonObject teacher;
  teacher.Add("event", "teacher")
      .Add("checkpoint", checkpoint)
      .Add("placement", here ? "ON_WORKERS" : "TEACHER_RANKS");
  return WriteLog(teacher);
}

Status TrainerImpl::MaybeResume() {
  if (!config_.checkpoint().resume()) {
    // Another run's checkpoints must not be resumed by a later start of this folder.
    if (checkpointer_->HasCheckpoints() && options_.refuse_earlier_checkpoints) {
      return FailedPrecondition(checkpointer_->dir() +
                                " holds checkpoints of an earlier run and checkpoint.resume is "
                                "false; remove them, or drop --refuse_earlier_checkpoints to "
                                "have them moved aside");
    }
    ASSIGN_OR_RETURN(const std::string moved, checkpointer_->SetAside("earlier-run"));
    return FreshStart("checkpoint.resume is false", moved);
  }
  StatusOr<std::string> latest = checkpointer_->FindLatest();
  if (!latest.ok()) {
    if (latest.status().code() == StatusCode::kNotFound) return FreshStart("no checkpoint", "");
    if (latest.status().code() != StatusCode::kFailedPrecondition) return latest.status();
    if (!options_.allow_fresh_start) {
      return FailedPrecondition(latest.status().message() +
                                "\nNothing was changed. Repair or remove them, or pass "
                                "--allow_fresh_start to set them aside and train from step 0.");
    }
    ASSIGN_OR_RETURN(const std::string moved, checkpointer_->SetAside("refused"));
    return FreshStart("no whole checkpoint (--allow_fresh_start)", moved);
  }
  TrainerPosition position;
  RETURN_IF_ERROR(checkpointer_->Load(*latest, runner_->model()->params(), runner_->optimizer(),
                                      &position, runner_->architecture_optimizer()));
  RETURN_IF_ERROR(runner_->InvalidateRowCache());  // the store's rows were restored
  step_ = position.step;
  start_epoch_ = position.epoch;
  skip_batches_ = position.epoch_batches;
  resumed_epoch_done_ = position.epoch_done;
  best_step_ = position.best_step;
  best_auc_ = position.best_step >= 0 ? position.best_val_mean_auc
                                      : -std::numeric_limits<double>::infinity();
  evals_since_best_ = position.evals_since_best;
  best_checkpoint_ = position.best_checkpoint;
  if (arch_stream_ != nullptr) {
    // The held-out batches already used, so that the run goes on with the ones an
    // uninterrupted run would use next.
    const int64_t every = config_.train().architecture().every_steps();
    const int64_t taken = every > 0 ? step_ / every : start_epoch_;
    Batch unused;
    for (int64_t i = 0; i < taken; ++i) RETURN_IF_ERROR(NextArchitectureBatch(&unused));
  }
  if (is_chief()) {
    LOG(INFO) << "resumed from " << checkpointer_->PathOf(*latest) << " at step " << step_
              << " (epoch " << start_epoch_ << ", batch " << skip_batches_ << ")";
  }
  JsonObject line;
  line.Add("event", "resume").Add("step", step_).Add("checkpoint", *latest);
  return WriteLog(line);
}

Status TrainerImpl::NextArchitectureBatch(Batch* out) {
  // Two tries: the end of an epoch, then the first batch of the next. A worker whose share of
  // the validation split is empty takes part with an empty batch.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSIGN_OR_RETURN(const bool more, arch_stream_->Next(out));
    if (more) return Status::OK();
    RETURN_IF_ERROR(arch_stream_->StartEpoch(++arch_epoch_));
  }
  const ShardHeader& h = arch_stream_->reader().header();
  out->Reset(h.num_tasks(), h.num_slots(), h.num_dense());
  return Status::OK();
}

Status TrainerImpl::ArchitectureStep() {
  if (arch_stream_ == nullptr) return Status::OK();
  const Clock::time_point start = Clock::now();
  Batch batch;
  RETURN_IF_ERROR(NextArchitectureBatch(&batch));
  RETURN_IF_ERROR(runner_->TrainArchitecture(&batch, step_).status());
  paused_seconds_ += Seconds(start, Clock::now());
  return Status::OK();
}

TrainerPosition TrainerImpl::Position(int epoch) const {
  TrainerPosition p;
  p.step = step_;
  const bool next = epoch_complete_ && !epoch_is_phase_end_;
  p.epoch = next ? epoch + 1 : epoch;
  p.epoch_batches = next ? 0 : epoch_batches_;
  p.epoch_done = epoch_complete_ && epoch_is_phase_end_;
  p.best_step = best_step_;
  p.best_val_mean_auc = best_step_ >= 0 ? best_auc_ : 0.0;
  p.evals_since_best = evals_since_best_;
  p.best_checkpoint = best_checkpoint_;
  return p;
}

Status TrainerImpl::WriteCheckpoint(int epoch, bool is_best) {
  // A step gets one checkpoint: the best-state one may already stand for this step.
  if (step_ == last_checkpoint_step_) return Status::OK();
  const Clock::time_point start = Clock::now();
  std::string name;
  const Status written =
      checkpointer_->Write(Position(epoch), *runner_->model()->params(), *runner_->optimizer(),
                           is_best, &name, runner_->architecture_optimizer());
  if (!written.ok()) {
    // Write fails alike on every worker (its steps agree), so all skip or all stop.
    if (config_.checkpoint().on_failure() != CheckpointConfig::SKIP) return written;
    checkpointer_->RemovePartial(step_);
    paused_seconds_ += Seconds(start, Clock::now());
    LOG(WARNING) << "checkpoint of step " << step_ << " skipped (checkpoint.on_failure: SKIP); "
                 << "the last whole checkpoint stays the one to resume from: "
                 << written.ToString();
    JsonObject line;
    line.Add("event", "checkpoint_skipped").Add("step", step_).Add("error", written.ToString());
    return WriteLog(line);
  }
  if (is_best) best_checkpoint_ = name;
  last_checkpoint_step_ = step_;
  paused_seconds_ += Seconds(start, Clock::now());
  JsonObject line;
  line.Add("event", "checkpoint").Add("step", step_).Add("checkpoint", name).Add("best", is_best);
  return WriteLog(line);
}

Status TrainerImpl::OpenReaders() {
  const DataConfig& data = config_.data();
  const uint64_t seed = config_.train().seed();
  const int w = workers_->rank();
  const int n = workers_->size();
  // Checks that shards agree with the config's data section.
  auto check = [&](const std::vector<std::string>& list, const ShardHeader& h) -> Status {
    if (h.num_tasks() != data.num_tasks() || h.num_slots() != data.slots_size() ||
        h.num_dense() != data.num_dense() || h.num_domains() > data.num_domains()) {
      return InvalidArgument(
          list[0] + ": shards hold " + std::to_string(h.num_tasks()) + " tasks, " +
          std::to_string(h.num_slots()) + " slots, " + std::to_string(h.num_dense()) +
          " dense features and " + std::to_string(h.num_domains()) +
          " domains; the config's data section says " + std::to_string(data.num_tasks()) + ", " +
          std::to_string(data.slots_size()) + ", " + std::to_string(data.num_dense()) + " and " +
          std::to_string(data.num_domains()));
    }
    for (int s = 0; s < data.slots_size(); ++s) {
      if (h.slot_names(s) != data.slots(s).name()) {
        return InvalidArgument(list[0] + ": slot " + std::to_string(s) + " is \"" +
                               h.slot_names(s) + "\" in the shards but \"" + data.slots(s).name() +
                               "\" in data.slots");
      }
    }
    return Status::OK();
  };
  auto open = [&](const google::protobuf::RepeatedPtrField<std::string>& paths,
                  std::unique_ptr<DataReader>* out) -> Status {
    if (paths.empty()) return Status::OK();
    std::vector<std::string> list(paths.begin(), paths.end());
    ASSIGN_OR_RETURN(*out, DataReader::Open(list, DataReader::OptionsFromConfig(
                                                      data.reader(), false, seed, w, n)));
    return check(list, (*out)->header());
  };
  std::vector<std::string> train(data.train().begin(), data.train().end());
  ASSIGN_OR_RETURN(train_stream_, TrainingStream::Open(train, data.reader(), seed, w, n));
  RETURN_IF_ERROR(check(train, train_stream_->reader().header()));
  RETURN_IF_ERROR(open(data.validation(), &validation_reader_));
  RETURN_IF_ERROR(open(data.test(), &test_reader_));
  return Status::OK();
}

Status TrainerImpl::WriteLog(const JsonObject& line) {
  if (log_ == nullptr) return Status::OK();
  if (tb_ != nullptr) RETURN_IF_ERROR(tb_->Add(line.ToString()));
  return log_->Write(line);
}

void TrainerImpl::LogTrain(int epoch) {
  const StepTimes* times = &runner_->times();
  // Each worker's loss is its share of the global batch's loss: the sum is the global loss.
  double loss = times->mean_loss();
  Status reduced = workers_->AllReduceSum(&loss, 1);
  if (!reduced.ok()) LOG(WARNING) << reduced.ToString();
  const double wall = Seconds(window_start_, Clock::now()) - paused_seconds_;
  const double rate = wall > 0 ? times->samples * workers_->size() / wall : 0.0;
  JsonObject line;
  line.Add("event", "train")
      .Add("step", step_)
      .Add("epoch", epoch)
      .Add("loss", loss)
      .Add("samples_per_sec", rate);
  // Wall time per step, split by phase; what is left is waiting for the reader.
  const double per_step = 1000.0 / std::max<int64_t>(1, times->steps);
  line.Add("ms_step", wall * per_step)
      .Add("ms_data", times->data * per_step)
      .Add("ms_pull", times->pull * per_step)
      .Add("ms_compute", times->compute * per_step)
      .Add("ms_push", times->push * per_step)
      .Add("ms_dense", times->dense * per_step)
      .Add("ps_bytes_per_step",
           static_cast<double>(times->ps_bytes) / std::max<int64_t>(1, times->steps))
      .Add("allreduce_bytes_per_step",
           static_cast<double>(times->allreduce_bytes) / std::max<int64_t>(1, times->steps));
  for (const auto& [name, value] : runner_->model()->Stats()) line.Add(name, value);
  if (store_stats_ != nullptr) {
    const GpuRowCache* device_cache = runner_->row_cache();
    auto figures =
        store_stats_->Figures(store_, device_cache != nullptr ? &device_cache->stats() : nullptr);
    if (figures.ok()) {
      for (const auto& [name, value] : *figures) line.Add(name, value);
    } else {
      LOG(WARNING) << "no parameter-server statistics in the metrics from now on: "
                   << figures.status().ToString();
      store_stats_.reset();
    }
  }
  Status s = WriteLog(line);
  if (!s.ok()) LOG(WARNING) << s.ToString();
  runner_->ClearTimes();
  window_start_ = Clock::now();
  paused_seconds_ = 0;
}

StatusOr<Report> TrainerImpl::Evaluate(const std::string& split) {
  DataReader* reader = split == "validation" ? validation_reader_.get()
                       : split == "test"     ? test_reader_.get()
                                             : nullptr;
  if (reader == nullptr) return NotFound("the config has no " + split + " data");
  const DataConfig& data = config_.data();
  std::vector<std::string> domain_names(data.domain_names().begin(), data.domain_names().end());
  std::vector<std::string> task_names(data.task_names().begin(), data.task_names().end());
  DomainTaskMetrics metrics(data.num_domains(), data.num_tasks(), domain_names, task_names);
  RETURN_IF_ERROR(reader->StartEpoch(0));
  Batch batch;
  Tensor probs;
  // A collective model (expert dispatch) needs every worker in every forward: workers whose
  // share is done run empty batches until all are.
  const bool collective = runner_->model()->Collective(/*training=*/false);
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&batch));
    if (collective) {
      double any = more ? 1.0 : 0.0;
      RETURN_IF_ERROR(workers_->AllReduceMax(&any, 1));
      if (any == 0.0) break;
      if (!more) {
        const ShardHeader& h = reader->header();
        batch.Reset(h.num_tasks(), h.num_slots(), h.num_dense());
      }
    } else if (!more) {
      break;
    }
    RETURN_IF_ERROR(runner_->Predict(&batch, step_, &probs));
    if (batch.size > 0) RETURN_IF_ERROR(metrics.Add(batch, probs.data()));
  }
  if (workers_->size() > 1) {
    std::vector<std::string> all;
    RETURN_IF_ERROR(workers_->AllGather(metrics.Serialize(), &all));
    DomainTaskMetrics global(data.num_domains(), data.num_tasks(), domain_names, task_names);
    for (const std::string& part : all) RETURN_IF_ERROR(global.MergeSerialized(part));
    return AddRetrieval(split, global.Compute());
  }
  return AddRetrieval(split, metrics.Compute());
}

StatusOr<std::unique_ptr<MatchingEvaluator::Export>> TrainerImpl::ExportMatching(
    const std::string& split) {
  if (matching_eval_ == nullptr) {
    return FailedPrecondition(
        "export: the model is not a matching (two_tower) model, or the "
        "config has no validation or test data");
  }
  if (step_ == 0) {
    return FailedPrecondition("export: " + options_.run_dir +
                              " holds no checkpoint of a trained model (train with checkpoint "
                              "every_steps or every_minutes set)");
  }
  RETURN_IF_ERROR(RestoreBest());
  const auto& paths = split == "validation" ? config_.data().validation() : config_.data().test();
  if (paths.empty()) return InvalidArgument("export: the config has no " + split + " data");
  return matching_eval_->ExportEmbeddings(std::vector<std::string>(paths.begin(), paths.end()),
                                          step_);
}

StatusOr<Report> TrainerImpl::AddRetrieval(const std::string& split, Report report) {
  if (matching_eval_ == nullptr) return report;
  const auto& paths = split == "validation" ? config_.data().validation() : config_.data().test();
  ASSIGN_OR_RETURN(
      RetrievalReport r,
      matching_eval_->Evaluate(std::vector<std::string>(paths.begin(), paths.end()), step_));
  report.retrieval = std::move(r.values);
  report.retrieval_users = std::move(r.users);
  return report;
}

double TrainerImpl::SelectionValue(const Report& report) const {
  if (matching_eval_ == nullptr) return report.mean_auc;
  for (const auto& [name, value] : report.retrieval) {
    if (name == matching_eval_->select()) return value;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

Status TrainerImpl::Validate(int epoch, bool* stop) {
  *stop = false;
  if (validation_reader_ == nullptr) return Status::OK();
  progress_->Break();
  const Clock::time_point start = Clock::now();
  ASSIGN_OR_RETURN(const Report report, Evaluate("validation"));
  JsonObject line;
  line.Add("event", "eval").Add("step", step_).Add("epoch", epoch);
  AddReportFields(report, "val_", &line);
  // The model's scalars (M3oE's alpha and beta, expert loads) at this evaluation.
  for (const auto& [name, value] : runner_->model()->Stats()) line.Add(name, value);
  RETURN_IF_ERROR(WriteLog(line));
  paused_seconds_ += Seconds(start, Clock::now());
  const double auc = SelectionValue(report);
  if (is_chief()) {
    if (matching_eval_ != nullptr) {
      LOG(INFO) << "step " << step_ << ": validation " << matching_eval_->select() << " " << auc
                << " over a corpus of " << matching_eval_->corpus_size() << " items";
    } else {
      LOG(INFO) << "step " << step_ << ": validation mean AUC " << auc << ", weighted AUC "
                << report.weighted_auc;
    }
  }
  if (std::isfinite(auc) && auc > best_auc_) {
    best_auc_ = auc;
    best_step_ = step_;
    evals_since_best_ = 0;
    if (config_.train().restore_best()) {
      if (checkpointer_->enabled()) {
        // Durable: the best state survives a restart.
        RETURN_IF_ERROR(WriteCheckpoint(epoch, /*is_best=*/true));
      } else {
        best_dense_ = runner_->model()->params()->Snapshot();
        RETURN_IF_ERROR(store_->SaveSnapshot());
      }
    }
  } else {
    ++evals_since_best_;
    const int patience = patience_;
    if (patience > 0 && evals_since_best_ >= patience) {
      if (is_chief()) {
        LOG(INFO) << "early stop at step " << step_ << ": no better validation AUC for " << patience
                  << " evaluations (best " << best_auc_ << " at step " << best_step_ << ")";
      }
      *stop = true;
    }
  }
  return Status::OK();
}

Status TrainerImpl::RestoreBest() {
  if (!config_.train().restore_best() || best_step_ < 0 || best_step_ == step_) {
    return Status::OK();
  }
  if (is_chief()) LOG(INFO) << "restoring the best state (step " << best_step_ << ")";
  // The store's rows change underneath a GPU worker's row cache.
  if (!best_checkpoint_.empty()) {
    RETURN_IF_ERROR(checkpointer_->LoadState(best_checkpoint_, step_, runner_->model()->params()));
    return runner_->InvalidateRowCache();
  }
  if (!best_dense_.empty()) {
    runner_->model()->params()->Restore(best_dense_);
    RETURN_IF_ERROR(store_->RestoreSnapshot());
    return runner_->InvalidateRowCache();
  }
  return FailedPrecondition("the best state (step " + std::to_string(best_step_) +
                            ") was not kept: enable checkpoints to keep it across restarts");
}

std::vector<ModelPhase> TrainerImpl::TrainingPhases() const {
  std::vector<ModelPhase> phases = runner_->model()->Phases();
  if (!phases.empty()) return phases;
  ModelPhase one;
  one.epochs = config_.train().epochs();
  one.early_stop_patience = config_.train().early_stop_patience();
  return {one};
}

Status TrainerImpl::EnterPhase(int index, const ModelPhase& phase) {
  runner_->model()->EnterPhase(index);
  for (const auto& p : runner_->model()->params()->params()) {
    p->frozen = phase.trains != nullptr && !phase.trains(*p);
  }
  runner_->set_train_rows(phase.train_rows);
  // Early stopping and the best state belong to the phase.
  best_auc_ = -std::numeric_limits<double>::infinity();
  best_step_ = -1;
  evals_since_best_ = 0;
  best_dense_.clear();
  best_checkpoint_.clear();
  if (phase.name.empty()) return Status::OK();
  if (is_chief()) {
    LOG(INFO) << "phase " << index << " (" << phase.name << ") at step " << step_ << ": "
              << phase.epochs << " epoch(s)"
              << (phase.domain >= 0 ? ", domain " + std::to_string(phase.domain) + " only" : "");
  }
  JsonObject line;
  line.Add("event", "phase").Add("phase", index).Add("name", phase.name).Add("step", step_);
  line.Add("domain", phase.domain).Add("epochs", phase.epochs);
  return WriteLog(line);
}

StatusOr<Report> TrainerImpl::Run() {
  const TrainConfig& train = config_.train();
  const int64_t max_steps = options_.max_steps >= 0 ? options_.max_steps : train.max_steps();
  const int64_t eval_every = train.eval_every_steps();
  const int64_t arch_every = arch_stream_ != nullptr ? train.architecture().every_steps() : -1;
  bool stop = false;
  bool evaluated_at_current_step = false;
  window_start_ = Clock::now();
  const Clock::time_point run_start = Clock::now();
  const std::vector<ModelPhase> phases = TrainingPhases();
  // Every worker must take part in every step: a batch is trained on only when every worker
  // has one (the agreement costs one tiny all-reduce per step).
  auto next_batch = [&](Batch* out, bool* all_have) -> Status {
    ASSIGN_OR_RETURN(const bool more, train_stream_->Next(out));
    double exhausted = more ? 0.0 : 1.0;
    RETURN_IF_ERROR(workers_->AllReduceMax(&exhausted, 1));
    *all_have = exhausted == 0.0;
    return Status::OK();
  };
  Batch batches[2];
  // Epochs are numbered across the phases (checkpoints record that number).
  int phase_begin = 0;
  bool entered_a_phase = false;
  for (size_t ph = 0; ph < phases.size() && !stop; ++ph) {
    const ModelPhase& phase = phases[ph];
    const int phase_end = phase_begin + phase.epochs;
    if (phase_end <= start_epoch_) {  // finished before the resume
      phase_begin = phase_end;
      continue;
    }
    // Only the first phase this run trains can be one a checkpoint stopped in the middle of.
    const bool resuming = !entered_a_phase && (start_epoch_ > phase_begin || skip_batches_ > 0);
    entered_a_phase = true;
    if (!resuming || phases.size() > 1) {
      // A resumed phase keeps the early-stopping state of its checkpoint.
      const double auc = best_auc_;
      const int64_t best = best_step_;
      const int evals = evals_since_best_;
      const std::string ckpt = best_checkpoint_;
      RETURN_IF_ERROR(EnterPhase(static_cast<int>(ph), phase));
      if (resuming) {
        best_auc_ = auc;
        best_step_ = best;
        evals_since_best_ = evals;
        best_checkpoint_ = ckpt;
      }
    }
    RETURN_IF_ERROR(train_stream_->SetDomainBatches(phase.single_domain_batches, phase.domain));
    patience_ = phase.early_stop_patience;
    bool phase_stop = false;
    for (int epoch = std::max(phase_begin, start_epoch_); epoch < phase_end && !phase_stop;
         ++epoch) {
      if (resumed_epoch_done_ && epoch == start_epoch_) {
        // The checkpoint was written after this epoch's end work: the phase ends here.
        resumed_epoch_done_ = false;
        evaluated_at_current_step = true;
        continue;
      }
      RETURN_IF_ERROR(train_stream_->StartEpoch(epoch));
      epoch_batches_ = 0;
      epoch_complete_ = false;
      if (epoch == start_epoch_ && skip_batches_ > 0) {
        RETURN_IF_ERROR(train_stream_->Skip(skip_batches_));
        epoch_batches_ = skip_batches_;
      }
      int cur = 0;
      bool have = false;
      RETURN_IF_ERROR(next_batch(&batches[cur], &have));
      while (have && !stop && !phase_stop) {
        if (max_steps > 0 && step_ >= max_steps) {
          stop = true;
          break;
        }
        // Look one batch ahead so its pull can fly during this step, unless an evaluation or a
        // checkpoint comes between the two steps (they must see exactly this step's state).
        Batch* next = &batches[1 - cur];
        bool next_ok = false;
        RETURN_IF_ERROR(next_batch(next, &next_ok));
        const int64_t after = step_ + 1;
        const bool boundary = (eval_every > 0 && after % eval_every == 0) ||
                              (arch_every > 0 && after % arch_every == 0) ||
                              checkpointer_->DueByStep(after) ||
                              (max_steps > 0 && after >= max_steps);
        RETURN_IF_ERROR(
            runner_->Train(&batches[cur], step_, next_ok && !boundary ? next : nullptr).status());
        ++step_;
        ++epoch_batches_;
        evaluated_at_current_step = false;
        if (arch_every > 0 && step_ % arch_every == 0) RETURN_IF_ERROR(ArchitectureStep());
        const StepTimes& times = runner_->times();
        // The live line estimates the global loss from this worker's share.
        progress_->Step(step_, times.mean_loss() * workers_->size(),
                        times.samples * workers_->size() /
                            std::max(1e-9, Seconds(window_start_, Clock::now())));
        if (train.log_every_steps() > 0 && step_ % train.log_every_steps() == 0) LogTrain(epoch);
        if (eval_every > 0 && step_ % eval_every == 0) {
          RETURN_IF_ERROR(Validate(epoch, &phase_stop));
          evaluated_at_current_step = true;
        }
        if (checkpointer_->enabled()) {
          // The step rule is the same everywhere; the clock is the chief's.
          double due =
              checkpointer_->DueByStep(step_) || (is_chief() && checkpointer_->DueByTime());
          if (config_.checkpoint().every_minutes() > 0) {
            RETURN_IF_ERROR(workers_->AllReduceMax(&due, 1));
          }
          if (due > 0) RETURN_IF_ERROR(WriteCheckpoint(epoch, /*is_best=*/false));
        }
        cur = 1 - cur;
        have = next_ok;
      }
      RETURN_IF_ERROR(runner_->CancelPrefetch());
      epoch_complete_ = !stop && !phase_stop;
      epoch_is_phase_end_ = epoch + 1 == phase_end;
      // Once per epoch by default: after its last step, before its evaluation.
      if (arch_every == 0 && !stop) RETURN_IF_ERROR(ArchitectureStep());
      if ((eval_every == 0 || stop || phase_stop) && !evaluated_at_current_step) {
        bool early = false;
        RETURN_IF_ERROR(Validate(epoch, &early));
        evaluated_at_current_step = true;
        phase_stop = phase_stop || early;
      }
    }
    if (!evaluated_at_current_step) {
      bool unused = false;
      RETURN_IF_ERROR(Validate(phase_end - 1, &unused));
      evaluated_at_current_step = true;
    }
    // Each phase ends in its best state; the next one starts from there.
    RETURN_IF_ERROR(RestoreBest());
    phase_begin = phase_end;
  }
  progress_->Break();
  const double train_seconds = Seconds(run_start, Clock::now());

  JsonObject final_line;
  final_line.Add("event", "final").Add("step", step_).Add("train_seconds", train_seconds);
  if (best_step_ >= 0) {
    final_line.Add("best_step", best_step_).Add("best_val_mean_auc", best_auc_);
  }
  Report report;
  if (test_reader_ == nullptr) {
    // Nothing held out to report on: the run ends with its training figures.
    final_line.Add("evaluated", false);
    RETURN_IF_ERROR(WriteLog(final_line));
    if (is_chief()) LOG(INFO) << "no test data in the config: nothing to evaluate";
    return report;
  }
  ASSIGN_OR_RETURN(report, Evaluate("test"));
  final_line.Add("mean_test_auc", report.mean_auc).Add("weighted_test_auc", report.weighted_auc);
  if (report.any_truth()) final_line.Add("oracle_mean_auc", report.oracle_mean_auc);
  AddReportFields(report, "test_", &final_line);
  RETURN_IF_ERROR(WriteLog(final_line));
  if (is_chief() && options_.print_table) {
    std::printf("%s", FormatReportTable(report).c_str());
    std::fflush(stdout);
  }
  return report;
}

Status TrainerImpl::LoadSavedModel() {
  if (workers_->size() != 1) {
    return InvalidArgument(
        "a saved model is evaluated by one process (it reads every server's "
        "shard of the checkpoint)");
  }
  const std::string& dir = options_.saved_model;
  JobCheckpointManifest manifest;
  RETURN_IF_ERROR(JobCheckpointer::Verify(dir, &manifest));
  RETURN_IF_ERROR(JobCheckpointer::CheckModel(dir, manifest, config_));
  if (!manifest.has_model_fingerprint()) {
    LOG(WARNING) << dir << " records no model fingerprint (an older build wrote it): the config "
                 << "is trusted to describe its model";
  }
  step_ = manifest.step();
  RETURN_IF_ERROR(checkpointer_->LoadState(dir, step_, runner_->model()->params()));
  return runner_->InvalidateRowCache();
}

Status TrainerImpl::Predict(const std::vector<std::string>& paths,
                            const Trainer::PredictionSink& sink) {
  const DataConfig& data = config_.data();
  ASSIGN_OR_RETURN(auto reader,
                   DataReader::Open(paths, DataReader::OptionsFromConfig(data.reader(), false,
                                                                         config_.train().seed())));
  const ShardHeader& h = reader->header();
  if (h.num_tasks() != data.num_tasks() || h.num_slots() != data.slots_size() ||
      h.num_dense() != data.num_dense() || h.num_domains() > data.num_domains()) {
    return InvalidArgument(
        paths[0] + ": the shards hold " + std::to_string(h.num_tasks()) + " tasks, " +
        std::to_string(h.num_slots()) + " slots, " + std::to_string(h.num_dense()) +
        " dense features and " + std::to_string(h.num_domains()) + " domains; the model reads " +
        std::to_string(data.num_tasks()) + ", " + std::to_string(data.slots_size()) + ", " +
        std::to_string(data.num_dense()) + " and at most " + std::to_string(data.num_domains()));
  }
  for (int s = 0; s < data.slots_size(); ++s) {
    if (h.slot_names(s) != data.slots(s).name()) {
      return InvalidArgument(paths[0] + ": slot " + std::to_string(s) + " is \"" + h.slot_names(s) +
                             "\" in the shards but \"" + data.slots(s).name() +
                             "\" in the model's data.slots");
    }
  }
  RETURN_IF_ERROR(reader->StartEpoch(0));
  Batch batch;
  Tensor probs;
  std::vector<int64_t> index;
  int64_t seen = 0;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, reader->Next(&batch));
    if (!more) break;
    // The model sorts a batch by domain, stably; the same order maps rows back to samples.
    index.resize(batch.size);
    for (int64_t i = 0; i < batch.size; ++i) index[i] = i;
    std::stable_sort(index.begin(), index.end(),
                     [&](int64_t a, int64_t b) { return batch.domain[a] < batch.domain[b]; });
    for (int64_t& i : index) i += seen;
    seen += batch.size;
    RETURN_IF_ERROR(runner_->Predict(&batch, step_, &probs));
    RETURN_IF_ERROR(sink(batch, probs.data(), index));
  }
  return Status::OK();
}

Trainer::Trainer(std::unique_ptr<TrainerImpl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const JobConfig& config, const Options& options,
                                                   EmbeddingStore* store, Communicator* workers) {
  auto impl = std::make_unique<TrainerImpl>(config, options, store, workers);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

StatusOr<Report> Trainer::Run() { return impl_->Run(); }
StatusOr<Report> Trainer::Evaluate(const std::string& split) { return impl_->Evaluate(split); }
RetrievalOptions Trainer::MatchingOptions() const { return impl_->MatchingOptions(); }
StatusOr<std::unique_ptr<MatchingEvaluator::Export>> Trainer::ExportMatching(
    const std::string& split) {
  return impl_->ExportMatching(split);
}
int64_t Trainer::step() const { return impl_->step(); }
Status Trainer::Predict(const std::vector<std::string>& paths, const PredictionSink& sink) {
  return impl_->Predict(paths, sink);
}

}  // namespace moerec
