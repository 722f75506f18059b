#include "worker/metrics/domain_task_metrics.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "worker/metrics/internal/ranking.h"

namespace moerec {

using metrics_internal::RankItem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kLogLossClip = 1e-7;
constexpr char kMagic[8] = {'M', 'R', 'D', 'T', 'M', 'v', '0', '1'};
// Bytes per kept value in a serialised buffer: score, label, user, truth.
constexpr size_t kBytesPerValue = sizeof(float) + 1 + sizeof(uint64_t) + sizeof(float);

double Mean(double sum, int64_t n) { return n > 0 ? sum / static_cast<double>(n) : kNaN; }

// BCE of a probability p against a 0/1 label, p clipped to [kLogLossClip, 1 - kLogLossClip].
double LogLossTerm(float p, uint8_t label) {
  const double q = std::clamp(static_cast<double>(p), kLogLossClip, 1.0 - kLogLossClip);
  return label ? -std::log(q) : -std::log1p(-q);
}

std::vector<std::string> NamesOrDefault(std::vector<std::string> names, int n, char prefix) {
  if (names.empty()) {
    for (int i = 0; i < n; ++i) names.push_back(prefix + std::to_string(i));
  }
  CHECK_EQ(static_cast<int>(names.size()), n) << "need one name per " << prefix;
  for (const std::string& name : names) {
    CHECK(!name.empty() && name.find('/') == std::string::npos) << "bad name '" << name << "'";
  }
  return names;
}

template <typename T>
void AppendRaw(const std::vector<T>& values, std::string* out) {
  out->append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Reads fixed-size values from a buffer, failing softly when it runs out.
class Reader {
 public:
  explicit Reader(std::string_view buffer) : rest_(buffer) {}

  bool Read(void* out, size_t bytes) {
    if (rest_.size() < bytes) return false;
    std::memcpy(out, rest_.data(), bytes);
    rest_.remove_prefix(bytes);
    return true;
  }
  template <typename T>
  bool ReadVector(size_t n, std::vector<T>* out) {
    out->resize(n);
    return Read(out->data(), n * sizeof(T));
  }
  size_t remaining() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

}  // namespace

double CellMetrics::pos_rate() const {
  return count > 0 ? static_cast<double>(positives) / static_cast<double>(count) : kNaN;
}

bool Report::any_truth() const {
  return std::any_of(cells.begin(), cells.end(), [](const CellMetrics& c) { return c.has_truth; });
}

DomainTaskMetrics::DomainTaskMetrics(int num_domains, int num_tasks,
                                     std::vector<std::string> domain_names,
                                     std::vector<std::string> task_names)
    : num_domains_(num_domains), num_tasks_(num_tasks) {
  CHECK_GE(num_domains, 1);
  CHECK_GE(num_tasks, 1);
  domain_names_ = NamesOrDefault(std::move(domain_names), num_domains, 'd');
  task_names_ = NamesOrDefault(std::move(task_names), num_tasks, 't');
  cells_.resize(static_cast<size_t>(num_domains) * num_tasks);
}

Status DomainTaskMetrics::Add(const Batch& batch, const float* predictions) {
  const int64_t b = batch.size;
  const int t_count = num_tasks_;
  if (batch.num_tasks != t_count) {
    return InvalidArgument("batch has " + std::to_string(batch.num_tasks) +
                           " tasks, metrics expect " + std::to_string(t_count));
  }
  const size_t bt = static_cast<size_t>(b) * t_count;
  if (b < 0 || batch.domain.size() != static_cast<size_t>(b) ||
      batch.user.size() != static_cast<size_t>(b) || batch.labels.size() != bt ||
      batch.label_mask.size() != bt || (batch.has_truth() && batch.truth.size() != bt)) {
    return InvalidArgument("batch columns disagree with its size " + std::to_string(b));
  }
  if (b > 0 && predictions == nullptr) return InvalidArgument("no predictions for the batch");
  for (int64_t i = 0; i < b; ++i) {
    if (batch.domain[i] < 0 || batch.domain[i] >= num_domains_) {
      return InvalidArgument("sample " + std::to_string(i) + " has domain " +
                             std::to_string(batch.domain[i]) + ", expected [0, " +
                             std::to_string(num_domains_) + ")");
    }
  }
  for (int64_t i = 0; i < b; ++i) {
    for (int t = 0; t < t_count; ++t) {
      const size_t at = static_cast<size_t>(i) * t_count + t;
      if (!batch.label_mask[at]) continue;
      Cell& c = cell(batch.domain[i], t);
      c.score.push_back(predictions[at]);
      c.label.push_back(batch.labels[at] >= 0.5f ? 1 : 0);
      c.user.push_back(batch.user[i]);
      const float truth = batch.has_truth() ? batch.truth[at] : std::nanf("");
      c.truth.push_back(truth);
      c.truth_count += std::isnan(truth) ? 0 : 1;
    }
  }
  return Status::OK();
}

Report DomainTaskMetrics::Compute() const {
  Report report;
  report.num_domains = num_domains_;
  report.num_tasks = num_tasks_;
  report.domain_names = domain_names_;
  report.task_names = task_names_;
  report.cells.resize(cells_.size());

  std::vector<RankItem> items;
  std::vector<RankItem> scratch;
  for (size_t k = 0; k < cells_.size(); ++k) {
    const Cell& c = cells_[k];
    CellMetrics& m = report.cells[k];
    const int64_t n = static_cast<int64_t>(c.score.size());
    m.count = n;
    double prediction_sum = 0;
    double loss_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      m.positives += c.label[i];
      prediction_sum += c.score[i];
      loss_sum += LogLossTerm(c.score[i], c.label[i]);
    }
    m.logloss = Mean(loss_sum, n);
    m.mean_prediction = Mean(prediction_sum, n);
    m.calibration = m.positives > 0 ? prediction_sum / static_cast<double>(m.positives) : kNaN;

    items.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      items[i] = RankItem{c.user[i], metrics_internal::ScoreKey(c.score[i]), c.label[i]};
    }
    metrics_internal::SortByScore(&items, &scratch);
    m.auc = metrics_internal::AucOfSortedRun(items.data(), items.data() + n).auc;
    // A stable pass by user over score-sorted items sorts by (user, score).
    metrics_internal::RadixSortBy(&items, &scratch, 64,
                                  [](const RankItem& item) { return item.group; });
    m.gauc = metrics_internal::GaucOfSorted(items).gauc;

    m.has_truth = n > 0 && c.truth_count == n;
    m.oracle_auc = kNaN;
    m.oracle_logloss = kNaN;
    if (m.has_truth) {
      double oracle_loss_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        items[i] = RankItem{0, metrics_internal::ScoreKey(c.truth[i]), c.label[i]};
        oracle_loss_sum += LogLossTerm(c.truth[i], c.label[i]);
      }
      metrics_internal::SortByScore(&items, &scratch);
      m.oracle_auc = metrics_internal::AucOfSortedRun(items.data(), items.data() + n).auc;
      m.oracle_logloss = Mean(oracle_loss_sum, n);
    }
  }

  // Means over the cells whose AUC is defined.
  struct Accumulator {
    double sum = 0, weighted_sum = 0;
    int64_t cells = 0, weight = 0;
    void Add(double auc, int64_t count) {
      if (std::isnan(auc)) return;
      sum += auc;
      weighted_sum += auc * static_cast<double>(count);
      ++cells;
      weight += count;
    }
    double mean() const { return cells > 0 ? sum / static_cast<double>(cells) : kNaN; }
    double weighted() const {
      return weight > 0 ? weighted_sum / static_cast<double>(weight) : kNaN;
    }
  };
  Accumulator all;
  Accumulator oracle;
  for (int t = 0; t < num_tasks_; ++t) {
    Accumulator task;
    for (int d = 0; d < num_domains_; ++d) {
      const CellMetrics& m = report.cell(d, t);
      task.Add(m.auc, m.count);
      all.Add(m.auc, m.count);
      oracle.Add(m.oracle_auc, m.count);
    }
    report.task_weighted_auc.push_back(task.weighted());
    report.task_mean_auc.push_back(task.mean());
  }
  report.mean_auc = all.mean();
  report.weighted_auc = all.weighted();
  report.oracle_mean_auc = oracle.mean();
  return report;
}

void DomainTaskMetrics::Clear() {
  for (Cell& c : cells_) {
    c.score.clear();
    c.label.clear();
    c.user.clear();
    c.truth.clear();
    c.truth_count = 0;
  }
}

void DomainTaskMetrics::Merge(const DomainTaskMetrics& other) {
  CHECK_EQ(num_domains_, other.num_domains_);
  CHECK_EQ(num_tasks_, other.num_tasks_);
  for (size_t k = 0; k < cells_.size(); ++k) {
    Cell& to = cells_[k];
    const Cell& from = other.cells_[k];
    to.score.insert(to.score.end(), from.score.begin(), from.score.end());
    to.label.insert(to.label.end(), from.label.begin(), from.label.end());
    to.user.insert(to.user.end(), from.user.begin(), from.user.end());
    to.truth.insert(to.truth.end(), from.truth.begin(), from.truth.end());
    to.truth_count += from.truth_count;
  }
}

int64_t DomainTaskMetrics::num_kept() const {
  int64_t n = 0;
  for (const Cell& c : cells_) n += static_cast<int64_t>(c.score.size());
  return n;
}

// Layout: magic (8 bytes), num_domains (u32), num_tasks (u32), then per cell in (D, T)
// row-major order: count (u64), score f32[count], label u8[count], user u64[count],
// truth f32[count].
std::string DomainTaskMetrics::Serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  out.reserve(sizeof(kMagic) + 8 + cells_.size() * 8 + num_kept() * kBytesPerValue);
  const uint32_t shape[2] = {static_cast<uint32_t>(num_domains_),
                             static_cast<uint32_t>(num_tasks_)};
  out.append(reinterpret_cast<const char*>(shape), sizeof(shape));
  for (const Cell& c : cells_) {
    const uint64_t count = c.score.size();
    out.append(reinterpret_cast<const char*>(&count), sizeof(count));
    AppendRaw(c.score, &out);
    AppendRaw(c.label, &out);
    AppendRaw(c.user, &out);
    AppendRaw(c.truth, &out);
  }
  return out;
}

Status DomainTaskMetrics::MergeSerialized(std::string_view buffer) {
  Reader reader(buffer);
  char magic[sizeof(kMagic)];
  if (!reader.Read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return Corruption("metrics buffer: bad magic (not from DomainTaskMetrics::Serialize)");
  }
  uint32_t shape[2];
  if (!reader.Read(shape, sizeof(shape))) return Corruption("metrics buffer: truncated header");
  if (shape[0] != static_cast<uint32_t>(num_domains_) ||
      shape[1] != static_cast<uint32_t>(num_tasks_)) {
    return InvalidArgument("metrics buffer has " + std::to_string(shape[0]) + " domains x " +
                           std::to_string(shape[1]) + " tasks, expected " +
                           std::to_string(num_domains_) + " x " + std::to_string(num_tasks_));
  }
  DomainTaskMetrics parsed(num_domains_, num_tasks_, domain_names_, task_names_);
  for (size_t k = 0; k < parsed.cells_.size(); ++k) {
    Cell& c = parsed.cells_[k];
    uint64_t count = 0;
    if (!reader.Read(&count, sizeof(count)) || count > reader.remaining() / kBytesPerValue) {
      return Corruption("metrics buffer: truncated at cell " + std::to_string(k));
    }
    reader.ReadVector(count, &c.score);
    reader.ReadVector(count, &c.label);
    reader.ReadVector(count, &c.user);
    reader.ReadVector(count, &c.truth);
    for (uint64_t i = 0; i < count; ++i) {
      if (c.label[i] > 1) {
        return Corruption("metrics buffer: label " + std::to_string(c.label[i]) + " in cell " +
                          std::to_string(k));
      }
      c.truth_count += std::isnan(c.truth[i]) ? 0 : 1;
    }
  }
  if (reader.remaining() != 0) {
    return Corruption("metrics buffer: " + std::to_string(reader.remaining()) + " trailing bytes");
  }
  Merge(parsed);
  return Status::OK();
}

}  // namespace moerec
