#include "worker/metrics/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "worker/metrics/svg_plot.h"

namespace moerec {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string Fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// The series of member `key` over the lines of `lines`.
PlotSeries Over(const std::map<int64_t, JsonValue>& lines, const std::string& key,
                const std::string& name) {
  PlotSeries s;
  s.name = name;
  for (const auto& [step, line] : lines) {
    const double v = line.NumberOr(key, kNaN);
    if (!std::isfinite(v)) continue;
    s.x.push_back(static_cast<double>(step));
    s.y.push_back(v);
  }
  return s;
}

double MeanOf(const std::map<int64_t, JsonValue>& lines, const std::string& key) {
  double sum = 0;
  int n = 0;
  for (const auto& [step, line] : lines) {
    const double v = line.NumberOr(key, kNaN);
    if (std::isfinite(v)) {
      sum += v;
      ++n;
    }
  }
  return n > 0 ? sum / n : kNaN;
}

// The (domain, task) cells of a run, "domain/task", in the order its final (else its last
// evaluation) line lists them.
std::vector<std::string> Cells(const RunRecord& run) {
  const JsonValue* line = run.final_line     ? &*run.final_line
                          : run.eval.empty() ? nullptr
                                             : &run.eval.rbegin()->second;
  std::vector<std::string> cells;
  if (line == nullptr) return cells;
  const std::string prefix = run.final_line ? "test_auc/" : "val_auc/";
  for (const auto& [key, value] : line->members()) {
    if (StartsWith(key, prefix)) cells.push_back(key.substr(prefix.size()));
  }
  return cells;
}

// The expert-load matrix of a run's last train line: rows per (domain, task) when the model
// logs "expert_load/<domain>/<task>.<e>", per task stream for SMES's "expert_share.<s>.<e>",
// else the per-expert shares "expert_load.<e>" of every logged step.
struct LoadMatrix {
  std::string rows_are;
  std::vector<std::string> rows, cols;
  std::vector<double> values;
};

LoadMatrix ExpertLoads(const RunRecord& run) {
  LoadMatrix m;
  if (run.train.empty()) return m;
  // Collects "<prefix><row>.<e>" members of one line into rows.
  auto collect = [](const JsonValue& line, const std::string& prefix,
                    std::map<std::string, std::map<int, double>>* rows) {
    for (const auto& [key, value] : line.members()) {
      if (!StartsWith(key, prefix) || !value.is_number()) continue;
      const std::string rest = key.substr(prefix.size());
      const size_t dot = rest.rfind('.');
      if (dot == std::string::npos) continue;
      const std::string expert = rest.substr(dot + 1);
      if (expert.empty() || expert.find_first_not_of("0123456789") != std::string::npos) continue;
      (*rows)[rest.substr(0, dot)][std::stoi(expert)] = value.number();
    }
  };
  std::map<std::string, std::map<int, double>> rows;
  const JsonValue& last = run.train.rbegin()->second;
  collect(last, "expert_load/", &rows);
  m.rows_are = "(domain, task)";
  if (rows.empty()) {
    collect(last, "expert_share.", &rows);
    m.rows_are = "task (SMES's share of each task's routing)";
  }
  std::vector<std::pair<std::string, std::map<int, double>>> ordered(rows.begin(), rows.end());
  if (rows.empty()) {
    m.rows_are = "step (each expert's share of all routing)";
    for (const auto& [step, line] : run.train) {
      std::map<int, double> loads;
      for (const auto& [key, value] : line.members()) {
        if (StartsWith(key, "expert_load.") && value.is_number()) {
          loads[std::atoi(key.c_str() + 12)] = value.number();
        }
      }
      if (!loads.empty()) ordered.emplace_back("step " + std::to_string(step), loads);
    }
  } else {
    m.rows_are = m.rows_are + " at step " + std::to_string(run.train.rbegin()->first);
    // Models log domain and task indices: name them after the run's (domain, task) cells,
    // which its final (or last evaluation) line lists domain-major.
    const std::vector<std::string> cells = Cells(run);
    std::vector<std::string> domains, tasks;
    for (const std::string& c : cells) {
      const size_t slash = c.find('/');
      if (slash == std::string::npos) continue;
      const std::string d = c.substr(0, slash), t = c.substr(slash + 1);
      if (std::find(domains.begin(), domains.end(), d) == domains.end()) domains.push_back(d);
      if (std::find(tasks.begin(), tasks.end(), t) == tasks.end()) tasks.push_back(t);
    }
    for (auto& [row, loads] : ordered) {
      const size_t slash = row.find('/');
      if (slash == std::string::npos) continue;
      const std::string d = row.substr(0, slash), t = row.substr(slash + 1);
      if (d.empty() || t.empty() || d.find_first_not_of("0123456789") != std::string::npos ||
          t.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      const size_t di = std::stoul(d), ti = std::stoul(t);
      if (di < domains.size() && ti < tasks.size()) row = domains[di] + "/" + tasks[ti];
    }
  }
  int experts = 0;
  for (const auto& [row, loads] : ordered) {
    if (!loads.empty()) experts = std::max(experts, loads.rbegin()->first + 1);
  }
  for (int e = 0; e < experts; ++e) m.cols.push_back(std::to_string(e));
  for (const auto& [row, loads] : ordered) {
    m.rows.push_back(row);
    for (int e = 0; e < experts; ++e) {
      const auto it = loads.find(e);
      m.values.push_back(it == loads.end() ? kNaN : it->second);
    }
  }
  return m;
}

std::string Section(const std::string& title, const std::string& note, const std::string& body) {
  return "<section><h2>" + HtmlEscape(title) + "</h2>" +
         (note.empty() ? "" : "<p class=\"note\">" + HtmlEscape(note) + "</p>") +
         "<div class=\"plots\">" + body + "</div></section>\n";
}

std::string RunsTable(const std::vector<RunRecord>& runs) {
  std::string s =
      "<table><tr><th>run</th><th>job</th><th>model</th><th>workers</th><th>steps</th>"
      "<th>mean test AUC</th><th>weighted test AUC</th><th>oracle mean AUC</th>"
      "<th>best val mean AUC</th><th>samples/s</th><th>restarts</th></tr>";
  for (const RunRecord& run : runs) {
    const JsonValue* f = run.final_line ? &*run.final_line : nullptr;
    const double steps = f != nullptr        ? f->NumberOr("step", kNaN)
                         : run.train.empty() ? kNaN
                                             : static_cast<double>(run.train.rbegin()->first);
    s += "<tr><td title=\"" + HtmlEscape(run.dir) + "\">" + HtmlEscape(run.name) + "</td><td>" +
         HtmlEscape(run.job) + "</td><td>" + HtmlEscape(run.model) + "</td><td>" +
         std::to_string(run.workers) + "</td><td>" + Fixed(steps, 0) + "</td><td>" +
         Fixed(f ? f->NumberOr("mean_test_auc", kNaN) : kNaN, 4) + "</td><td>" +
         Fixed(f ? f->NumberOr("weighted_test_auc", kNaN) : kNaN, 4) + "</td><td>" +
         Fixed(f ? f->NumberOr("oracle_mean_auc", kNaN) : kNaN, 4) + "</td><td>" +
         Fixed(f ? f->NumberOr("best_val_mean_auc", kNaN) : kNaN, 4) + "</td><td>" +
         Fixed(MeanOf(run.train, "samples_per_sec"), 0) + "</td><td>" +
         std::to_string(run.restarts) + "</td></tr>";
  }
  return s + "</table>";
}

constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fafafa}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}"
    ".plots{display:flex;flex-wrap:wrap;gap:12px}.plot{border:1px solid #ddd}"
    ".note{color:#555;font-size:13px}";

}  // namespace

StatusOr<RunRecord> ReadRun(const std::string& run_dir) {
  const std::string path = run_dir + "/metrics.jsonl";
  std::ifstream in(path);
  if (!in) return NotFound(path + ": no metrics file (is " + run_dir + " a run folder?)");
  RunRecord run;
  run.dir = run_dir;
  std::filesystem::path p(run_dir);
  if (!p.has_filename()) p = p.parent_path();
  run.name = p.filename().string();
  int64_t read = 0;
  for (std::string text; std::getline(in, text);) {
    if (text.empty()) continue;
    StatusOr<JsonValue> parsed = JsonValue::Parse(text);
    if (!parsed.ok() || !parsed->is_object() || parsed->Find("event") == nullptr) {
      ++run.unreadable_lines;
      continue;
    }
    ++read;
    JsonValue& line = *parsed;
    const std::string event = line.StringOr("event", "");
    const int64_t step = static_cast<int64_t>(line.NumberOr("step", 0));
    if (event == "start") {
      if (run.job.empty()) {
        run.job = line.StringOr("job", "");
        run.model = line.StringOr("model", "");
        run.workers = static_cast<int64_t>(line.NumberOr("workers", 0));
      }
    } else if (event == "resume") {
      ++run.restarts;
    } else if (event == "train") {
      run.train.insert_or_assign(step, std::move(line));
    } else if (event == "eval") {
      run.eval.insert_or_assign(step, std::move(line));
    } else if (event == "final") {
      run.final_line = std::move(line);
    }
  }
  if (in.bad()) return IoError("read " + path);
  if (read == 0) return InvalidArgument(path + ": holds no metrics line");
  return run;
}

std::string RenderRunReport(const std::vector<RunRecord>& runs) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>moerec report: ";
  std::string names;
  for (const RunRecord& run : runs) names += (names.empty() ? "" : ", ") + run.name;
  html += HtmlEscape(names) + "</title><style>" + kStyle + "</style></head><body>\n";
  html += "<h1>moerec report: " + HtmlEscape(names) + "</h1>\n";
  html += "<section><h2>Runs</h2>" + RunsTable(runs);
  for (const RunRecord& run : runs) {
    if (run.unreadable_lines > 0) {
      html += "<p class=\"note\">" + HtmlEscape(run.name) + ": " +
              std::to_string(run.unreadable_lines) +
              " unreadable line(s) of metrics.jsonl skipped (a killed writer's)</p>";
    }
  }
  html += "</section>\n";

  auto per_run = [&](const std::string& key, bool eval) {
    std::vector<PlotSeries> series;
    for (const RunRecord& run : runs)
      series.push_back(Over(eval ? run.eval : run.train, key, run.name));
    return series;
  };

  // Training.
  html += Section("Training", "loss: the global batch's loss, mean over each logging window",
                  LineChart("loss", "training loss", "step", "loss", per_run("loss", false)) +
                      LineChart("val_auc", "validation mean AUC", "step", "AUC",
                                per_run("val_mean_auc", true)));

  // Test AUC per (domain, task), next to the oracle.
  {
    std::vector<std::string> cells;
    std::set<std::string> seen;
    for (const RunRecord& run : runs) {
      for (const std::string& c : Cells(run)) {
        if (seen.insert(c).second) cells.push_back(c);
      }
    }
    std::vector<std::string> names;
    for (const RunRecord& run : runs) names.push_back(run.name);
    bool oracle = false;
    std::vector<BarGroup> groups;
    for (const std::string& cell : cells) {
      BarGroup g;
      g.label = cell;
      double truth = kNaN;
      for (const RunRecord& run : runs) {
        const JsonValue* f = run.final_line ? &*run.final_line : nullptr;
        g.values.push_back(f ? f->NumberOr("test_auc/" + cell, kNaN) : kNaN);
        if (f != nullptr && !std::isfinite(truth))
          truth = f->NumberOr("test_oracle_auc/" + cell, kNaN);
      }
      oracle = oracle || std::isfinite(truth);
      g.values.push_back(truth);
      groups.push_back(std::move(g));
    }
    names.push_back("oracle");
    html += Section("Test AUC per (domain, task)",
                    oracle ? "oracle: the AUC of the data's true probabilities (synthetic data)"
                           : "the data knows no true probabilities: no oracle bars",
                    BarChart("test_auc", "test AUC per (domain, task)", "AUC", names, groups,
                             {.stacked = false, .zero_based = false}));
  }

  // Experts.
  {
    std::string body;
    std::string rows_are;
    for (size_t i = 0; i < runs.size(); ++i) {
      const LoadMatrix m = ExpertLoads(runs[i]);
      if (rows_are.empty()) rows_are = m.rows_are;
      body += Heatmap("expert_load_" + std::to_string(i),
                      runs[i].name + ": expert load (columns: experts)", m.rows, m.cols, m.values);
    }
    body += LineChart("expert_cv", "expert load coefficient of variation", "step", "CV",
                      per_run("expert_load_cv", false));
    body += LineChart("expert_max_mean", "expert load max / mean", "step", "max / mean",
                      per_run("expert_load_max_mean", false));
    html += Section("Experts",
                    "heatmap rows: " + (rows_are.empty() ? std::string("-") : rows_are) +
                        ". A collapsing model puts most load on few experts: CV and max / mean "
                        "grow.",
                    body);
  }

  // Throughput and the time split of a step.
  {
    const std::vector<std::string> phases = {"data", "pull", "compute", "push", "dense"};
    std::vector<std::string> names = phases;
    names.push_back("other");
    std::vector<BarGroup> groups;
    for (const RunRecord& run : runs) {
      BarGroup g;
      g.label = run.name;
      double parts = 0;
      for (const std::string& ph : phases) {
        const double v = MeanOf(run.train, "ms_" + ph);
        g.values.push_back(v);
        if (std::isfinite(v)) parts += v;
      }
      const double step = MeanOf(run.train, "ms_step");
      g.values.push_back(std::isfinite(step) ? std::max(0.0, step - parts) : kNaN);
      groups.push_back(std::move(g));
    }
    html += Section(
        "Throughput",
        "time split: mean milliseconds per step over the run (other: waiting for the reader, "
        "logging)",
        LineChart("throughput", "samples / s (all workers)", "step", "samples/s",
                  per_run("samples_per_sec", false)) +
            BarChart("time_split", "time per step (ms)", "ms", names, groups,
                     {.stacked = true, .zero_based = true}));
  }

  // Parameter servers and the wire.
  {
    std::vector<PlotSeries> wire;
    for (const RunRecord& run : runs) {
      wire.push_back(Over(run.train, "ps_bytes_per_step", run.name + " ps"));
      wire.push_back(Over(run.train, "allreduce_bytes_per_step", run.name + " all-reduce"));
    }
    std::string body = LineChart("wire", "bytes per step and worker", "step", "bytes", wire);
    // Cache hit rate and table sizes, where the run's train lines carry them.
    std::vector<PlotSeries> hit, rows;
    bool any = false;
    for (const RunRecord& run : runs) {
      hit.push_back(Over(run.train, "ps_hit_rate", run.name));
      rows.push_back(Over(run.train, "ps_rows", run.name));
      any = any || !hit.back().x.empty() || !rows.back().x.empty();
    }
    std::string note = "ps: embedding pulls and pushes; all-reduce: dense gradients";
    if (any) {
      body += LineChart("ps_hit_rate", "parameter-server cache hit rate", "step", "hit rate", hit);
      body += LineChart("ps_rows", "parameter-server table rows", "step", "rows", rows);
    } else {
      note += ". These runs' metrics hold no server cache statistics (ps_hit_rate, ps_rows).";
    }
    html += Section("Parameter servers and the wire", note, body);
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace moerec
