#include "worker/metrics/report_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace moerec {

namespace {

std::string Fixed(double value, int digits) {
  if (std::isnan(value)) return "-";
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

// Columns are left-aligned for names and right-aligned for numbers.
class TextTable {
 public:
  explicit TextTable(int name_columns) : name_columns_(name_columns) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void AddRule() { rows_.emplace_back(); }

  std::string ToString() const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()));
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    size_t total = 0;
    for (size_t w : width) total += w + 2;
    std::string out;
    for (const auto& row : rows_) {
      if (row.empty()) {
        out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
        continue;
      }
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) {
        const std::string pad(width[c] - row[c].size(), ' ');
        if (c > 0) line += "  ";
        line += static_cast<int>(c) < name_columns_ ? row[c] + pad : pad + row[c];
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + "\n";
    }
    return out;
  }

 private:
  int name_columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace

void AddReportFields(const Report& report, std::string_view prefix, JsonObject* out) {
  const std::string p(prefix);
  for (int d = 0; d < report.num_domains; ++d) {
    for (int t = 0; t < report.num_tasks; ++t) {
      const CellMetrics& m = report.cell(d, t);
      const std::string cell = "/" + report.domain_names[d] + "/" + report.task_names[t];
      out->Add(p + "auc" + cell, m.auc);
      out->Add(p + "gauc" + cell, m.gauc);
      out->Add(p + "logloss" + cell, m.logloss);
      out->Add(p + "calibration" + cell, m.calibration);
      out->Add(p + "count" + cell, m.count);
      out->Add(p + "positives" + cell, m.positives);
      if (m.has_truth) {
        out->Add(p + "oracle_auc" + cell, m.oracle_auc);
        out->Add(p + "oracle_logloss" + cell, m.oracle_logloss);
      }
    }
  }
  for (int t = 0; t < report.num_tasks; ++t) {
    out->Add(p + "weighted_auc/" + report.task_names[t], report.task_weighted_auc[t]);
    out->Add(p + "mean_auc/" + report.task_names[t], report.task_mean_auc[t]);
  }
  out->Add(p + "mean_auc", report.mean_auc);
  out->Add(p + "weighted_auc", report.weighted_auc);
  if (report.any_truth()) out->Add(p + "oracle_mean_auc", report.oracle_mean_auc);
  for (const auto& [name, value] : report.retrieval) out->Add(p + name, value);
}

std::string FormatReportTable(const Report& report) {
  const bool truth = report.any_truth();
  TextTable table(/*name_columns=*/2);
  std::vector<std::string> header = {"domain", "task", "count",   "pos_rate",
                                     "auc",    "gauc", "logloss", "calib"};
  if (truth) header.push_back("oracle_auc");
  table.AddRow(header);
  table.AddRule();
  for (int d = 0; d < report.num_domains; ++d) {
    for (int t = 0; t < report.num_tasks; ++t) {
      const CellMetrics& m = report.cell(d, t);
      std::vector<std::string> row = {report.domain_names[d],  report.task_names[t],
                                      std::to_string(m.count), Fixed(m.pos_rate(), 4),
                                      Fixed(m.auc, 4),         Fixed(m.gauc, 4),
                                      Fixed(m.logloss, 4),     Fixed(m.calibration, 3)};
      if (truth) row.push_back(m.has_truth ? Fixed(m.oracle_auc, 4) : "-");
      table.AddRow(std::move(row));
    }
  }
  table.AddRule();
  for (int t = 0; t < report.num_tasks; ++t) {
    table.AddRow({"weighted", report.task_names[t], "", "", Fixed(report.task_weighted_auc[t], 4)});
    table.AddRow({"mean", report.task_names[t], "", "", Fixed(report.task_mean_auc[t], 4)});
  }
  table.AddRule();
  table.AddRow({"weighted", "all", "", "", Fixed(report.weighted_auc, 4)});
  std::vector<std::string> mean_row = {"mean", "all", "", "", Fixed(report.mean_auc, 4)};
  if (truth) {
    mean_row.resize(8);
    mean_row.push_back(Fixed(report.oracle_mean_auc, 4));
  }
  table.AddRow(std::move(mean_row));
  if (report.retrieval.empty()) return table.ToString();
  return table.ToString() + "\n" + FormatRetrievalTable(report);
}

std::string FormatRetrievalTable(const Report& report) {
  // Columns: the overall figures' names in order; rows: all, then each scenario.
  std::vector<std::string> metrics;
  for (const auto& entry : report.retrieval) {
    if (entry.first.find('/') == std::string::npos) metrics.push_back(entry.first);
  }
  auto value = [&](const std::string& name) {
    for (const auto& [n, v] : report.retrieval) {
      if (n == name) return v;
    }
    return std::numeric_limits<double>::quiet_NaN();
  };
  TextTable table(/*name_columns=*/1);
  std::vector<std::string> header = {"scenario", "queries"};
  header.insert(header.end(), metrics.begin(), metrics.end());
  table.AddRow(header);
  table.AddRule();
  for (int d = -1; d < report.num_domains; ++d) {
    const std::string suffix = d < 0 ? "" : "/" + report.domain_names[d];
    int64_t queries = 0;
    for (size_t i = 0; i < report.retrieval_users.size(); ++i) {
      if (d < 0 || static_cast<int>(i) == d) queries += report.retrieval_users[i];
    }
    std::vector<std::string> row = {d < 0 ? "all" : report.domain_names[d],
                                    std::to_string(queries)};
    for (const std::string& m : metrics) row.push_back(Fixed(value(m + suffix), 4));
    table.AddRow(std::move(row));
  }
  return table.ToString();
}

}  // namespace moerec
