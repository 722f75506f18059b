#include "data/synthetic/synthetic.h"

#include <cmath>
#include <cstdio>

#include "data/synthetic/internal/generation.h"
#include "data/synthetic/internal/synthetic_model.h"
#include "data/synthetic/matching.h"

namespace moerec {

Status ValidateSyntheticConfig(const DataConfig& c) {
  if (c.synthetic().has_matching()) return ValidateMatchingConfig(c);
  RETURN_IF_ERROR(ValidateCommonSyntheticConfig(c));
  if (c.num_tasks() < 1 || c.num_tasks() > 1024) {
    return ConfigError("num_tasks", std::to_string(c.num_tasks()), "in [1, 1024]");
  }
  if (c.task_names_size() != 0 && c.task_names_size() != c.num_tasks()) {
    return ConfigError("task_names", std::to_string(c.task_names_size()) + " names",
                       "empty or num_tasks = " + std::to_string(c.num_tasks()) + " names");
  }
  for (const std::string& name : c.task_names()) {
    if (name.empty() || name.find('/') != std::string::npos) {
      return ConfigError("task_names", "\"" + name + "\"", "non-empty and without '/'");
    }
  }
  if (c.num_dense() < 0 || c.num_dense() > 4096) {
    return ConfigError("num_dense", std::to_string(c.num_dense()), "in [0, 4096]");
  }
  if (c.slots_size() + c.num_dense() == 0) {
    return ConfigError("slots", "none", "given when num_dense = 0");
  }
  const SyntheticConfig& s = c.synthetic();
  if (s.vocab_size() < 1) {
    return ConfigError("synthetic.vocab_size", std::to_string(s.vocab_size()), ">= 1");
  }
  if (!InRange(s.zipf_exponent(), 0, 10)) {
    return ConfigError("synthetic.zipf_exponent", FormatNumber(s.zipf_exponent()), "in [0, 10]");
  }
  if (!InRange(s.domain_specificity(), 0, 100)) {
    return ConfigError("synthetic.domain_specificity", FormatNumber(s.domain_specificity()),
                       "in [0, 100]");
  }
  if (!InRange(s.interaction(), 0, 100)) {
    return ConfigError("synthetic.interaction", FormatNumber(s.interaction()), "in [0, 100]");
  }
  if (!InRange(s.signal_scale(), 0, 100)) {
    return ConfigError("synthetic.signal_scale", FormatNumber(s.signal_scale()), "in [0, 100]");
  }
  if (s.task_base_rate_size() != 0 && s.task_base_rate_size() != c.num_tasks()) {
    return ConfigError("synthetic.task_base_rate",
                       std::to_string(s.task_base_rate_size()) + " rates",
                       "empty or num_tasks = " + std::to_string(c.num_tasks()) + " rates");
  }
  for (double r : s.task_base_rate()) {
    if (!InRange(r, 1e-6, 1 - 1e-6)) {
      return ConfigError("synthetic.task_base_rate", FormatNumber(r), "in (0, 1)");
    }
  }
  if (!InRange(s.task_presence(), 0, 1)) {
    return ConfigError("synthetic.task_presence", FormatNumber(s.task_presence()), "in [0, 1]");
  }
  if (s.ids_per_multi_slot() < 1 || s.ids_per_multi_slot() > 1000) {
    return ConfigError("synthetic.ids_per_multi_slot", std::to_string(s.ids_per_multi_slot()),
                       "in [1, 1000]");
  }
  if (!InRange(s.seesaw_correlation(), 0, 0.999)) {
    return ConfigError("synthetic.seesaw_correlation", FormatNumber(s.seesaw_correlation()),
                       "in [0, 0.999] (0 = off)");
  }
  return Status::OK();
}

StatusOr<SyntheticOutputs> SyntheticOutputsFromConfig(const DataConfig& config) {
  const auto one = [](const google::protobuf::RepeatedPtrField<std::string>& list,
                      const std::string& field, std::string* out) {
    if (list.size() != 1) {
      return ConfigError(field, std::to_string(list.size()) + " entries",
                         "exactly one directory for generated data");
    }
    *out = list.Get(0);
    return Status::OK();
  };
  SyntheticOutputs o;
  RETURN_IF_ERROR(one(config.train(), "train", &o.train_dir));
  RETURN_IF_ERROR(one(config.validation(), "validation", &o.validation_dir));
  RETURN_IF_ERROR(one(config.test(), "test", &o.test_dir));
  return o;
}

StatusOr<SyntheticSummary> GenerateSynthetic(const DataConfig& config,
                                             const SyntheticOutputs& outputs,
                                             const RowProgress& progress) {
  if (config.synthetic().has_matching()) {
    return InvalidArgument(
        "data config: synthetic.matching is set; GenerateMatching (data/synthetic/matching.h) "
        "writes that data");
  }
  RETURN_IF_ERROR(ValidateSyntheticConfig(config));
  const SyntheticConfig& sc = config.synthetic();
  ASSIGN_OR_RETURN(const auto counts, SplitSizes(sc));
  const SyntheticModel model(config, counts[0]);

  ShardHeader header;
  header.set_num_tasks(config.num_tasks());
  header.set_num_slots(config.slots_size());
  header.set_num_dense(config.num_dense());
  header.set_has_truth(true);
  header.set_num_domains(config.num_domains());
  for (const SlotSpec& slot : config.slots()) header.add_slot_names(slot.name());

  SyntheticSummary summary;
  ASSIGN_OR_RETURN(
      const std::vector<ShardJob> jobs,
      PlanShards({"train", "validation", "test"},
                 {outputs.train_dir, outputs.validation_dir, outputs.test_dir},
                 {counts[0], counts[1], counts[2]}, sc.samples_per_shard(), &summary.splits));
  RETURN_IF_ERROR(WriteShards(
      jobs, header,
      [&](const ShardJob& job, Batch* batch) {
        for (int64_t i = 0; i < job.count; ++i) model.AppendSample(job.begin + i, batch);
      },
      &summary.splits, progress));
  for (int d = 0; d < config.num_domains(); ++d) {
    summary.domain_share.push_back(model.domain_share(d));
  }
  for (int t = 0; t < config.num_tasks(); ++t) summary.task_intercept.push_back(model.intercept(t));
  summary.zipf_head_share = model.zipf().Pmf(1);
  return summary;
}

std::string FormatSyntheticSummary(const DataConfig& config, const SyntheticSummary& summary) {
  const SyntheticConfig& sc = config.synthetic();
  const int num_tasks = config.num_tasks();
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "synthetic data: %lld samples, %d domains, %d tasks, %d slots, %d dense "
                "(vocab %lld, zipf %.2f: id 0 in %.1f%% of slots), seed %llu\n",
                static_cast<long long>(sc.num_samples()), config.num_domains(), num_tasks,
                config.slots_size(), config.num_dense(), static_cast<long long>(sc.vocab_size()),
                sc.zipf_exponent(), 100 * summary.zipf_head_share,
                static_cast<unsigned long long>(sc.seed()));
  out += buf;
  out += FormatSplitTable(DomainNames(config, "d"), summary.splits);
  std::snprintf(buf, sizeof(buf), "%-12s", "positive rate");
  out += buf;
  for (int t = 0; t < num_tasks; ++t) {
    // Given names, else t0, t1, ... (as the metrics name them).
    const std::string name =
        t < config.task_names_size() ? config.task_names(t) : "t" + std::to_string(t);
    std::snprintf(buf, sizeof(buf), " %10s", name.c_str());
    out += buf;
  }
  out += "\n";
  for (const SyntheticSplitSummary& ss : summary.splits) {
    std::snprintf(buf, sizeof(buf), "%-12s", ss.name.c_str());
    out += buf;
    for (int t = 0; t < num_tasks; ++t) {
      std::snprintf(buf, sizeof(buf), " %10.3f", ss.task_pos_rate[t]);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace moerec
