// DomainTaskMetrics: keeps every observed (prediction, label, user, truth) per (domain, task)
// cell of an evaluation pass and computes the metrics of DESIGN.md §7 and docs/models.md
// "Metrics (definitions)" exactly (no histogram approximation).
//
// Sizes: B samples, T tasks, D domains. Add() copies what it keeps; the caller keeps its
// batch. Memory: 17 bytes per observed label. Not thread-safe: one owner adds and computes.
// Distributed evaluation: each worker Serialize()s its values, one gathers the buffers and
// MergeSerialized()s them, and Compute() there is the exact global result.
#ifndef MOEREC_WORKER_METRICS_DOMAIN_TASK_METRICS_H_
#define MOEREC_WORKER_METRICS_DOMAIN_TASK_METRICS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "data/batch.h"

namespace moerec {

// Metrics of one (domain, task) cell. A value that is undefined (AUC with one class present,
// anything of an empty cell) is NaN; writers print NaN as null or "-", never as 0.5.
struct CellMetrics {
  int64_t count = 0;      // observed labels
  int64_t positives = 0;  // of which label = 1
  double auc = 0;
  double gauc = 0;             // grouped by Batch::user; one-class users skipped
  double logloss = 0;          // mean BCE with predictions clipped to [1e-7, 1 - 1e-7]
  double mean_prediction = 0;  // NaN when empty
  double calibration = 0;      // mean prediction / mean label; NaN without positives
  bool has_truth = false;      // every sample of the cell came with a true probability
  double oracle_auc = 0;       // AUC of the truth against the labels; NaN unless has_truth
  double oracle_logloss = 0;   // LogLoss of the truth; NaN unless has_truth

  double pos_rate() const;  // positives / count; NaN when empty
};

struct Report {
  int num_domains = 0;                    // D
  int num_tasks = 0;                      // T
  std::vector<std::string> domain_names;  // (D): given names, else "d0", "d1", ...
  std::vector<std::string> task_names;    // (T): given names, else "t0", "t1", ...
  std::vector<CellMetrics> cells;         // (D, T) row-major

  // Per task, over the domains whose AUC is defined: Σ_d n_d AUC_d / Σ_d n_d, and the plain
  // mean. NaN when no domain of the task has a defined AUC.
  std::vector<double> task_weighted_auc;  // (T)
  std::vector<double> task_mean_auc;      // (T)

  // Over all cells with a defined AUC: the macro mean and the count-weighted mean.
  double mean_auc = 0;
  double weighted_auc = 0;
  // Macro mean of the defined oracle AUCs; NaN when no cell has one.
  double oracle_mean_auc = 0;

  // Matching models: the corpus retrieval figures (worker/metrics/retrieval.h RetrievalReport
  // values: "recall@K", "recall@K/<scenario>", hr@, ndcg@), in that order; empty otherwise.
  std::vector<std::pair<std::string, double>> retrieval;
  std::vector<int64_t> retrieval_users;  // (D) queries with held-out positives per scenario

  const CellMetrics& cell(int domain, int task) const { return cells[domain * num_tasks + task]; }
  bool any_truth() const;  // some cell has_truth
};

class DomainTaskMetrics {
 public:
  // num_domains, num_tasks >= 1. Names are empty (defaults d<i>, t<j>) or give one non-empty
  // name without '/' per domain / task; they become JSON keys.
  DomainTaskMetrics(int num_domains, int num_tasks, std::vector<std::string> domain_names = {},
                    std::vector<std::string> task_names = {});

  // Keeps the observed labels of `batch` (label_mask = 1) with their predictions
  // (B, T) probabilities. Truth is kept when the batch has it. InvalidArgument, with nothing
  // kept, when the batch's task count or column sizes disagree or a domain is out of range.
  Status Add(const Batch& batch, const float* predictions);

  Report Compute() const;

  // Forgets every kept value; keeps allocations.
  void Clear();

  // Appends `other`'s values; both must have the same domain and task counts (CHECKed).
  void Merge(const DomainTaskMetrics& other);

  // A flat, self-describing byte buffer of every kept value (host byte order: gather between
  // machines of one endianness).
  std::string Serialize() const;
  // Appends the values of a Serialize() buffer. InvalidArgument when its domain / task counts
  // differ from this one's; Corruption when it is malformed. Nothing is kept on error.
  Status MergeSerialized(std::string_view buffer);

  int num_domains() const { return num_domains_; }
  int num_tasks() const { return num_tasks_; }
  int64_t num_kept() const;  // observed labels kept, over all cells

 private:
  // Structure of arrays, all of one length.
  struct Cell {
    std::vector<float> score;
    std::vector<uint8_t> label;  // 0 or 1
    std::vector<uint64_t> user;
    std::vector<float> truth;  // NaN where the sample had no truth
    int64_t truth_count = 0;   // entries of `truth` that are not NaN
  };

  Cell& cell(int domain, int task) { return cells_[domain * num_tasks_ + task]; }

  int num_domains_;
  int num_tasks_;
  std::vector<std::string> domain_names_;
  std::vector<std::string> task_names_;
  std::vector<Cell> cells_;  // (D, T) row-major
};

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_DOMAIN_TASK_METRICS_H_
