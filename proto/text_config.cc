#include "proto/text_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "proto/ps_config.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using google::protobuf::TextFormat;
using google::protobuf::io::ColumnNumber;

// Keeps the first parse error with its position (protobuf counts lines and columns from 0).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, ColumnNumber column, const std::string& message) override {
    if (!has_error_) {
      has_error_ = true;
      std::ostringstream os;
      // Errors about the whole message (a missing required field) come without a position.
      if (line >= 0) os << line + 1 << ":" << column + 1 << ":";
      os << " " << message;
      error_ = os.str();
    }
  }
  void AddWarning(int line, ColumnNumber column, const std::string& message) override {}
  bool has_error() const { return has_error_; }
  const std::string& error() const { return error_; }

 private:
  bool has_error_ = false;
  std::string error_;
};

// Collects the first failed check; messages name the field path.
class Checker {
 public:
  explicit Checker(std::string name) : name_(std::move(name)) {}

  void Fail(const std::string& field, const std::string& problem) {
    if (status_.ok()) status_ = InvalidArgument(name_ + ": " + field + ": " + problem);
  }
  template <typename T>
  void AtLeast(const std::string& field, T value, T min) {
    if (!(value >= min)) Fail(field, "must be >= " + Str(min) + ", got " + Str(value));
  }
  template <typename T>
  void Positive(const std::string& field, T value) {
    if (!(value > 0) || !std::isfinite(static_cast<double>(value))) {
      Fail(field, "must be > 0, got " + Str(value));
    }
  }
  // lo <= value < hi (or <= hi when hi_inclusive).
  void InRange(const std::string& field, double value, double lo, double hi, bool hi_inclusive) {
    const bool ok = value >= lo && (hi_inclusive ? value <= hi : value < hi);
    if (!ok) {
      Fail(field, "must be in [" + Str(lo) + ", " + Str(hi) + (hi_inclusive ? "]" : ")") +
                      ", got " + Str(value));
    }
  }
  // Names: non-empty, unique, without '/' (they become metric keys and file names).
  void Names(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& v,
             int expected) {
    if (v.empty()) return;
    if (expected >= 0 && v.size() != expected) {
      Fail(field, "has " + Str(v.size()) + " entries; give none or exactly " + Str(expected));
    }
    std::set<std::string> seen;
    for (int i = 0; i < v.size(); ++i) {
      const std::string at = field + "[" + Str(i) + "]";
      if (v[i].empty() || v[i].find('/') != std::string::npos) {
        Fail(at, "must be a non-empty name without '/', got \"" + v[i] + "\"");
      }
      if (!seen.insert(v[i]).second) Fail(at, "duplicate name \"" + v[i] + "\"");
    }
  }
  const Status& status() const { return status_; }

  template <typename T>
  static std::string Str(T v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

 private:
  std::string name_;
  Status status_;
};

void CheckReader(const ReaderConfig& r, Checker* c) {
  c->AtLeast("data.reader.batch_size", r.batch_size(), 1);
  c->AtLeast("data.reader.prefetch_batches", r.prefetch_batches(), 1);
  c->AtLeast("data.reader.threads", r.threads(), 1);
  c->AtLeast("data.reader.shuffle_buffer", r.shuffle_buffer(), 0);
}

void CheckSynthetic(const DataConfig& d, Checker* c) {
  const SyntheticConfig& s = d.synthetic();
  const std::string p = "data.synthetic.";
  c->AtLeast(p + "num_samples", s.num_samples(), int64_t{100});
  c->InRange(p + "validation_fraction", s.validation_fraction(), 0.0, 0.5, true);
  c->InRange(p + "test_fraction", s.test_fraction(), 0.0, 0.5, true);
  c->AtLeast(p + "domain_skew", s.domain_skew(), 0.0);
  c->AtLeast(p + "vocab_size", s.vocab_size(), int64_t{1});
  c->Positive(p + "zipf_exponent", s.zipf_exponent());
  c->AtLeast(p + "latent_dim", s.latent_dim(), 1);
  c->InRange(p + "domain_specificity", s.domain_specificity(), 0.0, 1.0, true);
  c->AtLeast(p + "interaction", s.interaction(), 0.0);
  c->Positive(p + "signal_scale", s.signal_scale());
  if (s.task_base_rate_size() != 0 && s.task_base_rate_size() != d.num_tasks()) {
    c->Fail(p + "task_base_rate", "has " + Checker::Str(s.task_base_rate_size()) +
                                      " entries; give none or one per task (" +
                                      Checker::Str(d.num_tasks()) + ")");
  }
  for (int t = 0; t < s.task_base_rate_size(); ++t) {
    const double r = s.task_base_rate(t);
    if (!(r > 0 && r < 1)) {
      c->Fail(p + "task_base_rate[" + Checker::Str(t) + "]",
              "must be in (0, 1), got " + Checker::Str(r));
    }
  }
  if (!(s.task_presence() > 0 && s.task_presence() <= 1)) {
    c->Fail(p + "task_presence", "must be in (0, 1], got " + Checker::Str(s.task_presence()));
  }
  c->AtLeast(p + "ids_per_multi_slot", s.ids_per_multi_slot(), 1);
  c->AtLeast(p + "num_users", s.num_users(), int64_t{1});
  c->AtLeast(p + "samples_per_shard", s.samples_per_shard(), int64_t{1});
}

void CheckData(const DataConfig& d, Checker* c) {
  c->AtLeast("data.num_domains", d.num_domains(), 1);
  c->AtLeast("data.num_tasks", d.num_tasks(), 1);
  c->Names("data.domain_names", d.domain_names(), d.num_domains());
  c->Names("data.task_names", d.task_names(), d.num_tasks());
  c->AtLeast("data.num_dense", d.num_dense(), 0);
  if (d.slots_size() == 0 && d.num_dense() == 0) {
    c->Fail("data.slots", "the data has no features: give at least one slot or num_dense > 0");
  }
  std::set<std::string> seen;
  for (int i = 0; i < d.slots_size(); ++i) {
    const std::string at = "data.slots[" + Checker::Str(i) + "]";
    const std::string& name = d.slots(i).name();
    if (name.empty()) c->Fail(at + ".name", "must not be empty");
    if (!seen.insert(name).second) c->Fail(at + ".name", "duplicate slot name \"" + name + "\"");
  }
  if (d.train_size() == 0) c->Fail("data.train", "at least one shard file or folder is required");
  if (d.has_synthetic()) CheckSynthetic(d, c);
  CheckReader(d.reader(), c);
}

void CheckRowOptimizer(const std::string& p, const RowOptimizerConfig& o, Checker* c) {
  c->Positive(p + ".learning_rate", o.learning_rate());
  c->Positive(p + ".epsilon", o.epsilon());
  c->AtLeast(p + ".initial_accumulator", o.initial_accumulator(), 0.0f);
  c->InRange(p + ".beta1", o.beta1(), 0.0, 1.0, false);
  c->InRange(p + ".beta2", o.beta2(), 0.0, 1.0, false);
  c->AtLeast(p + ".l1", o.l1(), 0.0f);
  c->AtLeast(p + ".l2", o.l2(), 0.0f);
  c->AtLeast(p + ".beta", o.beta(), 0.0f);
}

void CheckTables(const JobConfig& job, Checker* c) {
  std::set<std::string> seen;
  for (int i = 0; i < job.tables_size(); ++i) {
    const TableConfig& t = job.tables(i);
    const std::string at = "tables[" + Checker::Str(i) + "]";
    if (t.name().empty()) c->Fail(at + ".name", "must not be empty");
    if (!seen.insert(t.name()).second) {
      c->Fail(at + ".name", "duplicate table name \"" + t.name() + "\"");
    }
    c->InRange(at + ".dim", t.dim(), 1, 4096, true);
    CheckRowOptimizer(at + ".optimizer", t.optimizer(), c);
    c->AtLeast(at + ".initializer.scale", t.initializer().scale(), 0.0f);
  }
}

// `field`: where the optimizer sits ("optimizer", "train.architecture.optimizer").
void CheckDenseOptimizer(const OptimizerConfig& o, const std::string& field, Checker* c) {
  c->Positive(field + ".learning_rate", o.learning_rate());
  c->InRange(field + ".beta1", o.beta1(), 0.0, 1.0, false);
  c->InRange(field + ".beta2", o.beta2(), 0.0, 1.0, false);
  c->Positive(field + ".epsilon", o.epsilon());
  c->AtLeast(field + ".weight_decay", o.weight_decay(), 0.0f);
  c->InRange(field + ".momentum", o.momentum(), 0.0, 1.0, false);
}

void CheckTrain(const TrainConfig& t, Checker* c) {
  c->AtLeast("train.epochs", t.epochs(), 1);
  c->AtLeast("train.max_steps", t.max_steps(), int64_t{0});
  c->AtLeast("train.eval_every_steps", t.eval_every_steps(), int64_t{0});
  c->AtLeast("train.early_stop_patience", t.early_stop_patience(), 0);
  c->InRange("train.threads", t.threads(), 0, 256, true);
  c->AtLeast("train.log_every_steps", t.log_every_steps(), int64_t{0});
  c->AtLeast("train.architecture.every_steps", t.architecture().every_steps(), int64_t{0});
  if (t.architecture().has_optimizer()) {
    CheckDenseOptimizer(t.architecture().optimizer(), "train.architecture.optimizer", c);
  }
}

void CheckCheckpoint(const CheckpointConfig& k, Checker* c) {
  c->AtLeast("checkpoint.every_steps", k.every_steps(), int64_t{0});
  c->AtLeast("checkpoint.every_minutes", k.every_minutes(), 0.0);
  c->AtLeast("checkpoint.full_every", k.full_every(), 1);
  c->AtLeast("checkpoint.keep_last", k.keep_last(), 1);
}

void CheckCluster(const ClusterConfig& cl, Checker* c) {
  c->AtLeast("cluster.num_servers", cl.num_servers(), 0);
  c->AtLeast("cluster.num_workers", cl.num_workers(), 1);
  c->AtLeast("cluster.staleness", cl.staleness(), 0);
  if (cl.num_workers() > 1 && cl.num_servers() == 0) {
    c->Fail("cluster.num_servers", "is 0 but num_workers is " + Checker::Str(cl.num_workers()) +
                                       ": workers share embeddings through parameter servers; "
                                       "give at least 1");
  }
  c->AtLeast("cluster.row_cache_staleness", cl.row_cache_staleness(), 0);
  c->Positive("cluster.health_interval_s", cl.health_interval_s());
  if (cl.health_timeout_s() != 0 && !(cl.health_timeout_s() > cl.health_interval_s())) {
    c->Fail("cluster.health_timeout_s", "must be 0 (off) or greater than health_interval_s (" +
                                            Checker::Str(cl.health_interval_s()) + "), got " +
                                            Checker::Str(cl.health_timeout_s()));
  }
  c->AtLeast("cluster.row_cache_rows", cl.row_cache_rows(), int64_t{1});
  if (cl.sync() == ClusterConfig::BSP && cl.row_cache_staleness() > 0) {
    c->Fail("cluster.row_cache_staleness",
            "must be 0 with sync: BSP (every pull must see every applied push); use ASP or SSP");
  }
  if (cl.worker_ranks_size() != 0 && cl.worker_ranks_size() != cl.num_workers()) {
    c->Fail("cluster.worker_ranks", "has " + Checker::Str(cl.worker_ranks_size()) +
                                        " ranks; give none or num_workers (" +
                                        Checker::Str(cl.num_workers()) + ")");
  }
  if (cl.ranks_per_node() < 0) {
    c->Fail("cluster.ranks_per_node",
            "must be >= 0 (0 = detect from MPI), got " + Checker::Str(cl.ranks_per_node()));
  }
  if (cl.server_ranks_size() != 0 && cl.server_ranks_size() != cl.num_servers()) {
    c->Fail("cluster.server_ranks", "has " + Checker::Str(cl.server_ranks_size()) +
                                        " ranks; give none or num_servers (" +
                                        Checker::Str(cl.num_servers()) + ")");
  }
}

}  // namespace

Status ParseTextProto(const std::string& text, const std::string& name,
                      google::protobuf::Message* message) {
  message->Clear();
  FirstErrorCollector errors;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, message)) {
    if (errors.has_error()) return InvalidArgument(name + ":" + errors.error());
    // (errors.error() starts with "line:col:" or a space)
    return InvalidArgument(name + ": not a valid " + message->GetTypeName() + " (" +
                           message->InitializationErrorString() + ")");
  }
  return Status::OK();
}

Status ParseTextProtoFile(const std::string& path, google::protobuf::Message* message) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoError("read " + path);
  return ParseTextProto(text.str(), path, message);
}

std::string ResolvePath(const std::string& dir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(dir) / path).lexically_normal().string();
}

int FindTable(const JobConfig& config, const std::string& name) {
  for (int i = 0; i < config.tables_size(); ++i) {
    if (config.tables(i).name() == name) return i;
  }
  return -1;
}

Status ValidateJobConfig(const JobConfig& config, const std::string& name) {
  Checker c(name);
  CheckData(config.data(), &c);
  CheckTables(config, &c);
  if (config.model().kind_case() == ModelConfig::KIND_NOT_SET) {
    c.Fail("model", "names no model; set one of the model kinds (e.g. mmoe { ... })");
  }
  c.AtLeast("model.domain_embedding_dim", config.model().domain_embedding_dim(), 0);
  CheckDenseOptimizer(config.optimizer(), "optimizer", &c);
  CheckTrain(config.train(), &c);
  CheckCluster(config.cluster(), &c);
  // Teacher ranks exist exactly for a distilled model that asks for them.
  const bool teacher_ranks =
      config.model().has_two_tower() && config.model().two_tower().has_distill() &&
      config.model().two_tower().distill().placement() == DistillConfig::TEACHER_RANKS;
  c.AtLeast("cluster.num_teachers", config.cluster().num_teachers(), 0);
  if (teacher_ranks && config.cluster().num_teachers() < 1) {
    c.Fail("cluster.num_teachers",
           "is 0 but model.two_tower.distill.placement is TEACHER_RANKS: give at least 1");
  }
  if (!teacher_ranks && config.cluster().num_teachers() > 0) {
    c.Fail("cluster.num_teachers",
           "is " + Checker::Str(config.cluster().num_teachers()) +
               " but only a two_tower model with distill.placement TEACHER_RANKS has teacher "
               "ranks; set it to 0");
  }
  CheckCheckpoint(config.checkpoint(), &c);
  RETURN_IF_ERROR(c.status());
  return ValidatePsConfig(config, name);
}

std::string TeacherTableName(const JobConfig& config, const SlotSpec& slot) {
  return config.model().two_tower().distill().table_prefix() +
         (slot.has_table() ? slot.table() : slot.name());
}

StatusOr<JobConfig> LoadJobConfig(const std::string& path) {
  JobConfig config;
  RETURN_IF_ERROR(ParseTextProtoFile(path, &config));
  const std::string dir = fs::path(path).parent_path().string();
  DataConfig* data = config.mutable_data();
  for (auto* list : {data->mutable_train(), data->mutable_validation(), data->mutable_test(),
                     data->mutable_items()}) {
    for (std::string& p : *list) p = ResolvePath(dir.empty() ? "." : dir, p);
  }
  // An offline teacher's run folder, like the data, is relative to the config file.
  if (config.model().has_two_tower() && config.model().two_tower().has_distill() &&
      !config.model().two_tower().distill().teacher_run_dir().empty()) {
    DistillConfig* d = config.mutable_model()->mutable_two_tower()->mutable_distill();
    d->set_teacher_run_dir(ResolvePath(dir.empty() ? "." : dir, d->teacher_run_dir()));
  }
  // Every slot's table (its `table`, else its name) gets an entry in `tables`; unset fields come
  // from the embedding defaults. Slots naming the same table share it.
  const EmbeddingDefaults& defaults = config.embedding();
  for (const SlotSpec& slot : data->slots()) {
    const std::string table = slot.has_table() ? slot.table() : slot.name();
    if (FindTable(config, table) >= 0) continue;
    config.add_tables()->set_name(table);
  }
  // A distillation teacher reads every slot again through tables of its own, which start as
  // copies of the student's unless the config lists them.
  if (config.model().has_two_tower() && config.model().two_tower().has_distill()) {
    for (const SlotSpec& slot : data->slots()) {
      const std::string table = TeacherTableName(config, slot);
      if (FindTable(config, table) >= 0) continue;
      TableConfig copy =
          config.tables(FindTable(config, slot.has_table() ? slot.table() : slot.name()));
      copy.set_name(table);
      *config.add_tables() = copy;
    }
  }
  for (TableConfig& t : *config.mutable_tables()) {
    if (!t.has_dim()) t.set_dim(defaults.dim());
    if (!t.has_optimizer()) *t.mutable_optimizer() = defaults.optimizer();
    if (!t.has_initializer()) *t.mutable_initializer() = defaults.initializer();
    if (!t.has_storage()) *t.mutable_storage() = defaults.storage();
  }
  RETURN_IF_ERROR(ValidateJobConfig(config, path));
  return config;
}

}  // namespace moerec
