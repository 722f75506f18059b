#include "data/synthetic/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>

#include "core/parallel.h"
#include "data/shard.h"
#include "data/synthetic/internal/synthetic_model.h"

namespace moerec {
namespace {

constexpr int kBlockSamples = 4096;

Status Bad(const std::string& field, const std::string& value, const std::string& allowed) {
  return InvalidArgument("data config: " + field + " = " + value + " must be " + allowed);
}
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}
bool In(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

struct Job {
  int split;
  int shard;
  int64_t begin;  // first global sample index
  int64_t count;
};

struct JobResult {
  Status status;
  std::vector<int64_t> domain_samples;
  std::vector<int64_t> observed;
  std::vector<int64_t> positives;
};

Status PrepareDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("create directory " + dir + ": " + ec.message());
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("part-", 0) == 0 &&
        (name.ends_with(kShardExtension) ||
         name.find(std::string(kShardExtension) + ".tmp") != std::string::npos)) {
      fs::remove(it->path(), ec);
      if (ec) return IoError("remove stale shard " + it->path().string() + ": " + ec.message());
    }
  }
  if (ec) return IoError("list " + dir + ": " + ec.message());
  return Status::OK();
}

// Whether two directory paths name the same place (before any of it exists).
bool SamePath(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  const auto normal = [](const std::string& p) {
    std::error_code ec;
    fs::path n = fs::weakly_canonical(fs::absolute(p, ec), ec).lexically_normal();
    return n.has_filename() ? n : n.parent_path();
  };
  return normal(a) == normal(b);
}

std::string ShardName(int shard) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "part-%05d%s", shard, kShardExtension);
  return buf;
}

}  // namespace

Status ValidateSyntheticConfig(const DataConfig& c) {
  if (c.num_domains() < 1 || c.num_domains() > 65536) {
    return Bad("num_domains", std::to_string(c.num_domains()), "in [1, 65536]");
  }
  if (c.num_tasks() < 1 || c.num_tasks() > 1024) {
    return Bad("num_tasks", std::to_string(c.num_tasks()), "in [1, 1024]");
  }
  if (c.domain_names_size() != 0 && c.domain_names_size() != c.num_domains()) {
    return Bad("domain_names", std::to_string(c.domain_names_size()) + " names",
               "empty or num_domains = " + std::to_string(c.num_domains()) + " names");
  }
  if (c.task_names_size() != 0 && c.task_names_size() != c.num_tasks()) {
    return Bad("task_names", std::to_string(c.task_names_size()) + " names",
               "empty or num_tasks = " + std::to_string(c.num_tasks()) + " names");
  }
  for (const auto* list : {&c.domain_names(), &c.task_names()}) {
    for (const std::string& name : *list) {
      if (name.empty() || name.find('/') != std::string::npos) {
        return Bad(list == &c.domain_names() ? "domain_names" : "task_names", "\"" + name + "\"",
                   "non-empty and without '/'");
      }
    }
  }
  if (c.num_dense() < 0 || c.num_dense() > 4096) {
    return Bad("num_dense", std::to_string(c.num_dense()), "in [0, 4096]");
  }
  if (c.slots_size() + c.num_dense() == 0) return Bad("slots", "none", "given when num_dense = 0");
  std::set<std::string> names;
  for (const SlotSpec& slot : c.slots()) {
    if (slot.name().empty()) return Bad("slots.name", "\"\"", "non-empty");
    if (!names.insert(slot.name()).second) {
      return Bad("slots.name", "\"" + slot.name() + "\"", "unique (it appears twice)");
    }
  }
  const SyntheticConfig& s = c.synthetic();
  if (s.num_samples() < 1)
    return Bad("synthetic.num_samples", std::to_string(s.num_samples()), ">= 1");
  if (!In(s.validation_fraction(), 0, 1) || !In(s.test_fraction(), 0, 1) ||
      s.validation_fraction() + s.test_fraction() >= 1) {
    return Bad("synthetic.validation_fraction + test_fraction",
               Num(s.validation_fraction()) + " + " + Num(s.test_fraction()),
               "each in [0, 1) with a sum below 1");
  }
  if (!In(s.domain_skew(), 0, 100))
    return Bad("synthetic.domain_skew", Num(s.domain_skew()), "in [0, 100]");
  if (s.vocab_size() < 1)
    return Bad("synthetic.vocab_size", std::to_string(s.vocab_size()), ">= 1");
  if (!In(s.zipf_exponent(), 0, 10)) {
    return Bad("synthetic.zipf_exponent", Num(s.zipf_exponent()), "in [0, 10]");
  }
  if (s.latent_dim() < 1 || s.latent_dim() > 256) {
    return Bad("synthetic.latent_dim", std::to_string(s.latent_dim()), "in [1, 256]");
  }
  if (!In(s.domain_specificity(), 0, 100)) {
    return Bad("synthetic.domain_specificity", Num(s.domain_specificity()), "in [0, 100]");
  }
  if (!In(s.interaction(), 0, 100))
    return Bad("synthetic.interaction", Num(s.interaction()), "in [0, 100]");
  if (!In(s.signal_scale(), 0, 100)) {
    return Bad("synthetic.signal_scale", Num(s.signal_scale()), "in [0, 100]");
  }
  if (s.task_base_rate_size() != 0 && s.task_base_rate_size() != c.num_tasks()) {
    return Bad("synthetic.task_base_rate", std::to_string(s.task_base_rate_size()) + " rates",
               "empty or num_tasks = " + std::to_string(c.num_tasks()) + " rates");
  }
  for (double r : s.task_base_rate()) {
    if (!In(r, 1e-6, 1 - 1e-6)) return Bad("synthetic.task_base_rate", Num(r), "in (0, 1)");
  }
  if (!In(s.task_presence(), 0, 1)) {
    return Bad("synthetic.task_presence", Num(s.task_presence()), "in [0, 1]");
  }
  if (s.ids_per_multi_slot() < 1 || s.ids_per_multi_slot() > 1000) {
    return Bad("synthetic.ids_per_multi_slot", std::to_string(s.ids_per_multi_slot()),
               "in [1, 1000]");
  }
  if (s.num_users() < 1) return Bad("synthetic.num_users", std::to_string(s.num_users()), ">= 1");
  if (!In(s.tail_share(), 0, 0.5)) {
    return Bad("synthetic.tail_share", Num(s.tail_share()), "in [0, 0.5] (0 = by domain_skew)");
  }
  if (s.tail_share() > 0 && c.num_domains() < 2) {
    return Bad("synthetic.tail_share", Num(s.tail_share()), "0 with a single domain");
  }
  if (!In(s.seesaw_correlation(), 0, 0.999)) {
    return Bad("synthetic.seesaw_correlation", Num(s.seesaw_correlation()),
               "in [0, 0.999] (0 = off)");
  }
  if (s.samples_per_shard() < 1) {
    return Bad("synthetic.samples_per_shard", std::to_string(s.samples_per_shard()), ">= 1");
  }
  return Status::OK();
}

StatusOr<SyntheticOutputs> SyntheticOutputsFromConfig(const DataConfig& config) {
  const auto one = [](const google::protobuf::RepeatedPtrField<std::string>& list,
                      const std::string& field, std::string* out) {
    if (list.size() != 1) {
      return Bad(field, std::to_string(list.size()) + " entries",
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
                                             const SyntheticOutputs& outputs) {
  RETURN_IF_ERROR(ValidateSyntheticConfig(config));
  const SyntheticConfig& sc = config.synthetic();
  const int num_domains = config.num_domains();
  const int num_tasks = config.num_tasks();
  const int64_t n = sc.num_samples();
  const int64_t n_validation = std::llround(n * sc.validation_fraction());
  const int64_t n_test = std::llround(n * sc.test_fraction());
  const int64_t n_train = n - n_validation - n_test;
  if (n_train < 1) {
    return Bad("synthetic.num_samples", std::to_string(n),
               "large enough to leave training samples");
  }
  const SyntheticModel model(config, n_train);

  ShardHeader header;
  header.set_num_tasks(num_tasks);
  header.set_num_slots(config.slots_size());
  header.set_num_dense(config.num_dense());
  header.set_has_truth(true);
  header.set_num_domains(num_domains);
  for (const SlotSpec& slot : config.slots()) header.add_slot_names(slot.name());

  SyntheticSummary summary;
  const std::string dirs[3] = {outputs.train_dir, outputs.validation_dir, outputs.test_dir};
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      if (SamePath(dirs[a], dirs[b])) {
        return InvalidArgument("synthetic output directories must differ: " + dirs[a] + " and " +
                               dirs[b]);
      }
    }
  }
  const int64_t counts[3] = {n_train, n_validation, n_test};
  const char* names[3] = {"train", "validation", "test"};
  std::vector<Job> jobs;
  int64_t begin = 0;
  for (int split = 0; split < 3; ++split) {
    if (dirs[split].empty())
      return InvalidArgument(std::string("no output directory for ") + names[split]);
    RETURN_IF_ERROR(PrepareDirectory(dirs[split]));
    SyntheticSplitSummary& ss = summary.splits.emplace_back();
    ss.name = names[split];
    ss.dir = dirs[split];
    ss.samples = counts[split];
    // An empty split still gets one (empty) shard, so its directory reads as empty data.
    ss.shards = static_cast<int>(std::max<int64_t>(
        1, (counts[split] + sc.samples_per_shard() - 1) / sc.samples_per_shard()));
    for (int shard = 0; shard < ss.shards; ++shard) {
      const int64_t offset = shard * sc.samples_per_shard();
      const int64_t count = std::min<int64_t>(sc.samples_per_shard(), counts[split] - offset);
      jobs.push_back(Job{split, shard, begin + offset, std::max<int64_t>(count, 0)});
    }
    begin += counts[split];
  }

  std::vector<JobResult> results(jobs.size());
  ParallelFor(static_cast<int64_t>(jobs.size()), 1, [&](int64_t jb, int64_t je) {
    Batch batch;
    for (int64_t j = jb; j < je; ++j) {
      const Job& job = jobs[j];
      JobResult& r = results[j];
      r.domain_samples.assign(num_domains, 0);
      r.observed.assign(num_tasks, 0);
      r.positives.assign(num_tasks, 0);
      batch.Reset(num_tasks, config.slots_size(), config.num_dense());
      for (int64_t i = 0; i < job.count; ++i) model.AppendSample(job.begin + i, &batch);
      for (int64_t i = 0; i < batch.size; ++i) {
        ++r.domain_samples[batch.domain[i]];
        for (int t = 0; t < num_tasks; ++t) {
          r.observed[t] += batch.label_mask[i * num_tasks + t];
          r.positives[t] +=
              batch.label_mask[i * num_tasks + t] && batch.labels[i * num_tasks + t] > 0.5f;
        }
      }
      const std::string path = dirs[job.split] + "/" + ShardName(job.shard);
      auto writer = ShardWriter::Open(path, header, kBlockSamples);
      if (!writer.ok()) {
        r.status = writer.status();
        continue;
      }
      r.status = (*writer)->Append(batch);
      if (r.status.ok()) r.status = (*writer)->Close();
    }
  });

  for (int split = 0; split < 3; ++split) {
    SyntheticSplitSummary& ss = summary.splits[split];
    ss.domain_samples.assign(num_domains, 0);
    ss.task_observed.assign(num_tasks, 0);
  }
  std::vector<std::vector<int64_t>> positives(3, std::vector<int64_t>(num_tasks, 0));
  for (size_t j = 0; j < jobs.size(); ++j) {
    const JobResult& r = results[j];
    RETURN_IF_ERROR(r.status);
    const int split = jobs[j].split;
    SyntheticSplitSummary& ss = summary.splits[split];
    for (int d = 0; d < num_domains; ++d) ss.domain_samples[d] += r.domain_samples[d];
    for (int t = 0; t < num_tasks; ++t) {
      ss.task_observed[t] += r.observed[t];
      positives[split][t] += r.positives[t];
    }
  }
  for (int split = 0; split < 3; ++split) {
    SyntheticSplitSummary& ss = summary.splits[split];
    for (int t = 0; t < num_tasks; ++t) {
      ss.task_pos_rate.push_back(
          ss.task_observed[t] > 0 ? static_cast<double>(positives[split][t]) / ss.task_observed[t]
                                  : std::nan(""));
    }
  }
  for (int d = 0; d < num_domains; ++d) summary.domain_share.push_back(model.domain_share(d));
  for (int t = 0; t < num_tasks; ++t) summary.task_intercept.push_back(model.intercept(t));
  summary.zipf_head_share = model.zipf().Pmf(1);
  return summary;
}

std::string FormatSyntheticSummary(const DataConfig& config, const SyntheticSummary& summary) {
  const SyntheticConfig& sc = config.synthetic();
  const int num_domains = config.num_domains();
  const int num_tasks = config.num_tasks();
  // Given names, else d0, d1, ... and t0, t1, ... (as the metrics name them).
  const auto domain_name = [&](int d) {
    return d < config.domain_names_size() ? config.domain_names(d) : "d" + std::to_string(d);
  };
  const auto task_name = [&](int t) {
    return t < config.task_names_size() ? config.task_names(t) : "t" + std::to_string(t);
  };
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "synthetic data: %lld samples, %d domains, %d tasks, %d slots, %d dense "
                "(vocab %lld, zipf %.2f: id 0 in %.1f%% of slots), seed %llu\n",
                static_cast<long long>(sc.num_samples()), num_domains, num_tasks,
                config.slots_size(), config.num_dense(), static_cast<long long>(sc.vocab_size()),
                sc.zipf_exponent(), 100 * summary.zipf_head_share,
                static_cast<unsigned long long>(sc.seed()));
  out += buf;
  std::snprintf(buf, sizeof(buf), "%-12s %9s %6s", "split", "samples", "shards");
  out += buf;
  for (int d = 0; d < num_domains; ++d) {
    std::snprintf(buf, sizeof(buf), " %10s", domain_name(d).c_str());
    out += buf;
  }
  out += "\n";
  for (const SyntheticSplitSummary& ss : summary.splits) {
    std::snprintf(buf, sizeof(buf), "%-12s %9lld %6d", ss.name.c_str(),
                  static_cast<long long>(ss.samples), ss.shards);
    out += buf;
    for (int64_t c : ss.domain_samples) {
      std::snprintf(buf, sizeof(buf), " %10lld", static_cast<long long>(c));
      out += buf;
    }
    out += "  " + ss.dir + "\n";
  }
  std::snprintf(buf, sizeof(buf), "%-12s", "positive rate");
  out += buf;
  for (int t = 0; t < num_tasks; ++t) {
    std::snprintf(buf, sizeof(buf), " %10s", task_name(t).c_str());
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
