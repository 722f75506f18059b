#include "data/synthetic/internal/generation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>

#include "core/parallel.h"
#include "data/shard.h"

namespace moerec {
namespace {

constexpr int kBlockSamples = 4096;

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

struct JobResult {
  Status status;
  int64_t samples = 0;
  std::vector<int64_t> domain_samples;  // (D)
  std::vector<int64_t> observed;        // (T)
  std::vector<int64_t> positives;       // (T)
};

}  // namespace

Status ConfigError(const std::string& field, const std::string& value, const std::string& allowed) {
  return InvalidArgument("data config: " + field + " = " + value + " must be " + allowed);
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

bool InRange(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

Status ValidateCommonSyntheticConfig(const DataConfig& c) {
  if (c.num_domains() < 1 || c.num_domains() > 65536) {
    return ConfigError("num_domains", std::to_string(c.num_domains()), "in [1, 65536]");
  }
  if (c.domain_names_size() != 0 && c.domain_names_size() != c.num_domains()) {
    return ConfigError("domain_names", std::to_string(c.domain_names_size()) + " names",
                       "empty or num_domains = " + std::to_string(c.num_domains()) + " names");
  }
  for (const std::string& name : c.domain_names()) {
    if (name.empty() || name.find('/') != std::string::npos) {
      return ConfigError("domain_names", "\"" + name + "\"", "non-empty and without '/'");
    }
  }
  std::set<std::string> names;
  for (const SlotSpec& slot : c.slots()) {
    if (slot.name().empty()) return ConfigError("slots.name", "\"\"", "non-empty");
    if (!names.insert(slot.name()).second) {
      return ConfigError("slots.name", "\"" + slot.name() + "\"", "unique (it appears twice)");
    }
  }
  const SyntheticConfig& s = c.synthetic();
  if (s.num_samples() < 1) {
    return ConfigError("synthetic.num_samples", std::to_string(s.num_samples()), ">= 1");
  }
  if (!InRange(s.validation_fraction(), 0, 1) || !InRange(s.test_fraction(), 0, 1) ||
      s.validation_fraction() + s.test_fraction() >= 1) {
    return ConfigError(
        "synthetic.validation_fraction + test_fraction",
        FormatNumber(s.validation_fraction()) + " + " + FormatNumber(s.test_fraction()),
        "each in [0, 1) with a sum below 1");
  }
  if (!InRange(s.domain_skew(), 0, 100)) {
    return ConfigError("synthetic.domain_skew", FormatNumber(s.domain_skew()), "in [0, 100]");
  }
  if (s.latent_dim() < 1 || s.latent_dim() > 256) {
    return ConfigError("synthetic.latent_dim", std::to_string(s.latent_dim()), "in [1, 256]");
  }
  if (s.num_users() < 1) {
    return ConfigError("synthetic.num_users", std::to_string(s.num_users()), ">= 1");
  }
  if (!InRange(s.tail_share(), 0, 0.5)) {
    return ConfigError("synthetic.tail_share", FormatNumber(s.tail_share()),
                       "in [0, 0.5] (0 = by domain_skew)");
  }
  if (s.tail_share() > 0 && c.num_domains() < 2) {
    return ConfigError("synthetic.tail_share", FormatNumber(s.tail_share()),
                       "0 with a single domain");
  }
  if (s.samples_per_shard() < 1) {
    return ConfigError("synthetic.samples_per_shard", std::to_string(s.samples_per_shard()),
                       ">= 1");
  }
  return Status::OK();
}

DomainSampler::DomainSampler(const DataConfig& config) {
  const SyntheticConfig& sc = config.synthetic();
  const int num_domains = config.num_domains();
  const bool fixed_tail = sc.tail_share() > 0 && num_domains > 1;
  const int skewed = fixed_tail ? num_domains - 1 : num_domains;
  double total = 0;
  for (int d = 0; d < skewed; ++d) {
    share_.push_back(std::pow(d + 1.0, -sc.domain_skew()));
    total += share_.back();
  }
  const double rest = fixed_tail ? 1.0 - sc.tail_share() : 1.0;
  for (int d = 0; d < skewed; ++d) share_[d] *= rest / total;
  if (fixed_tail) share_.push_back(sc.tail_share());
  for (int d = 0; d < num_domains; ++d) cdf_.push_back((d > 0 ? cdf_[d - 1] : 0.0) + share_[d]);
  cdf_.back() = 1.0;
}

int DomainSampler::Draw(double uniform) const {
  const int d =
      static_cast<int>(std::upper_bound(cdf_.begin(), cdf_.end(), uniform) - cdf_.begin());
  return std::min(d, num_domains() - 1);
}

StatusOr<std::array<int64_t, 3>> SplitSizes(const SyntheticConfig& sc) {
  const int64_t n = sc.num_samples();
  const int64_t n_validation = std::llround(n * sc.validation_fraction());
  const int64_t n_test = std::llround(n * sc.test_fraction());
  const int64_t n_train = n - n_validation - n_test;
  if (n_train < 1) {
    return ConfigError("synthetic.num_samples", std::to_string(n),
                       "large enough to leave training samples");
  }
  return std::array<int64_t, 3>{n_train, n_validation, n_test};
}

StatusOr<std::vector<ShardJob>> PlanShards(const std::vector<std::string>& names,
                                           const std::vector<std::string>& dirs,
                                           const std::vector<int64_t>& counts,
                                           int64_t samples_per_shard,
                                           std::vector<SyntheticSplitSummary>* splits) {
  CHECK_EQ(names.size(), dirs.size());
  CHECK_EQ(names.size(), counts.size());
  CHECK_GE(samples_per_shard, 1);
  for (size_t a = 0; a < dirs.size(); ++a) {
    if (dirs[a].empty()) return InvalidArgument("no output directory for " + names[a]);
    for (size_t b = a + 1; b < dirs.size(); ++b) {
      if (SamePath(dirs[a], dirs[b])) {
        return InvalidArgument("synthetic output directories must differ: " + names[a] + " " +
                               dirs[a] + " and " + names[b] + " " + dirs[b]);
      }
    }
  }
  splits->clear();
  std::vector<ShardJob> jobs;
  int64_t begin = 0;
  for (size_t k = 0; k < dirs.size(); ++k) {
    RETURN_IF_ERROR(PrepareDirectory(dirs[k]));
    SyntheticSplitSummary& ss = splits->emplace_back();
    ss.name = names[k];
    ss.dir = dirs[k];
    ss.samples = counts[k];
    ss.shards = static_cast<int>(
        std::max<int64_t>(1, (counts[k] + samples_per_shard - 1) / samples_per_shard));
    for (int shard = 0; shard < ss.shards; ++shard) {
      const int64_t offset = shard * samples_per_shard;
      const int64_t count = std::min<int64_t>(samples_per_shard, counts[k] - offset);
      jobs.push_back(ShardJob{static_cast<int>(k), shard, begin + offset,
                              std::max<int64_t>(count, 0), dirs[k] + "/" + ShardName(shard)});
    }
    begin += counts[k];
  }
  return jobs;
}

Status WriteShards(const std::vector<ShardJob>& jobs, const ShardHeader& header,
                   const std::function<void(const ShardJob&, Batch*)>& fill,
                   std::vector<SyntheticSplitSummary>* splits, const RowProgress& progress) {
  const int num_domains = header.num_domains();
  const int num_tasks = header.num_tasks();
  std::vector<JobResult> results(jobs.size());
  int64_t total = 0;
  for (const ShardJob& job : jobs) total += job.count;
  std::mutex progress_mu;
  int64_t done = 0;  // GUARDED_BY(progress_mu)
  ParallelFor(static_cast<int64_t>(jobs.size()), 1, [&](int64_t jb, int64_t je) {
    Batch batch;
    for (int64_t j = jb; j < je; ++j) {
      JobResult& r = results[j];
      r.domain_samples.assign(num_domains, 0);
      r.observed.assign(num_tasks, 0);
      r.positives.assign(num_tasks, 0);
      batch.Reset(num_tasks, header.num_slots(), header.num_dense());
      fill(jobs[j], &batch);
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mu);
        done += jobs[j].count;
        progress(done, total);
      }
      r.samples = batch.size;
      for (int64_t i = 0; i < batch.size; ++i) {
        ++r.domain_samples[batch.domain[i]];
        for (int t = 0; t < num_tasks; ++t) {
          r.observed[t] += batch.label_mask[i * num_tasks + t];
          r.positives[t] +=
              batch.label_mask[i * num_tasks + t] && batch.labels[i * num_tasks + t] > 0.5f;
        }
      }
      auto writer = ShardWriter::Open(jobs[j].path, header, kBlockSamples);
      if (!writer.ok()) {
        r.status = writer.status();
        continue;
      }
      r.status = (*writer)->Append(batch);
      if (r.status.ok()) r.status = (*writer)->Close();
    }
  });

  std::vector<std::vector<int64_t>> positives(splits->size(), std::vector<int64_t>(num_tasks, 0));
  for (SyntheticSplitSummary& ss : *splits) {
    ss.samples = 0;
    ss.domain_samples.assign(num_domains, 0);
    ss.task_observed.assign(num_tasks, 0);
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    const JobResult& r = results[j];
    RETURN_IF_ERROR(r.status);
    SyntheticSplitSummary& ss = (*splits)[jobs[j].split];
    ss.samples += r.samples;
    for (int d = 0; d < num_domains; ++d) ss.domain_samples[d] += r.domain_samples[d];
    for (int t = 0; t < num_tasks; ++t) {
      ss.task_observed[t] += r.observed[t];
      positives[jobs[j].split][t] += r.positives[t];
    }
  }
  for (size_t k = 0; k < splits->size(); ++k) {
    SyntheticSplitSummary& ss = (*splits)[k];
    ss.task_pos_rate.clear();
    for (int t = 0; t < num_tasks; ++t) {
      ss.task_pos_rate.push_back(ss.task_observed[t] > 0
                                     ? static_cast<double>(positives[k][t]) / ss.task_observed[t]
                                     : std::nan(""));
    }
  }
  return Status::OK();
}

std::vector<std::string> DomainNames(const DataConfig& config, const std::string& prefix) {
  std::vector<std::string> names;
  for (int d = 0; d < config.num_domains(); ++d) {
    names.push_back(d < config.domain_names_size() ? config.domain_names(d)
                                                   : prefix + std::to_string(d));
  }
  return names;
}

std::string FormatSplitTable(const std::vector<std::string>& domain_names,
                             const std::vector<SyntheticSplitSummary>& splits) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-12s %9s %6s", "split", "samples", "shards");
  out += buf;
  for (const std::string& name : domain_names) {
    std::snprintf(buf, sizeof(buf), " %10s", name.c_str());
    out += buf;
  }
  out += "\n";
  for (const SyntheticSplitSummary& ss : splits) {
    std::snprintf(buf, sizeof(buf), "%-12s %9lld %6d", ss.name.c_str(),
                  static_cast<long long>(ss.samples), ss.shards);
    out += buf;
    for (int64_t c : ss.domain_samples) {
      std::snprintf(buf, sizeof(buf), " %10lld", static_cast<long long>(c));
      out += buf;
    }
    out += "  " + ss.dir + "\n";
  }
  return out;
}

}  // namespace moerec
