#include "worker/metrics/tensorboard_log.h"

#include <cmath>
#include <map>
#include <vector>

namespace moerec {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void AddScalar(const std::string& tag, double value, TbSummary* out) {
  if (!std::isfinite(value)) return;  // TensorBoard would draw NaN as a gap anyway
  TbSummary::Value* v = out->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
}

// The tag of a train line's member, or "" for members that are no series.
std::string TrainTag(const std::string& key) {
  if (key == "step" || key == "epoch") return "";
  if (key == "loss" || key == "samples_per_sec") return "train/" + key;
  if (StartsWith(key, "ms_")) return "time/" + key;
  if (key == "ps_bytes_per_step") return "wire/ps_bytes_per_step";
  if (key == "allreduce_bytes_per_step") return "wire/allreduce_bytes_per_step";
  // The parameter servers' table sizes and hit rates: ps/rows, ps/rows/<table>, ps/hit_rate, ...
  if (StartsWith(key, "ps_rows.")) return "ps/rows/" + key.substr(8);
  if (StartsWith(key, "ps_")) return "ps/" + key.substr(3);
  if (key == "worker_cache_hit_rate") return "ps/" + key;
  if (StartsWith(key, "expert_load.")) return "experts/load/" + key.substr(12);
  if (StartsWith(key, "expert_load/")) return "";  // per (domain, task): histograms below
  if (StartsWith(key, "expert_load_")) return "experts/load_" + key.substr(12);
  if (StartsWith(key, "active_experts_") || key == "tokens_dropped") return "experts/" + key;
  return "model/" + key;
}

// The tag of an evaluation member named <prefix><metric>[/<domain>/<task>], or "" for the
// per-cell sample counts (no series worth drawing).
std::string EvalTag(const std::string& key, std::string_view prefix, const std::string& split) {
  if (!StartsWith(key, prefix)) return "";
  const std::string rest = key.substr(prefix.size());
  if (StartsWith(rest, "count/") || StartsWith(rest, "positives/")) return "";
  return split + "/" + rest;
}

}  // namespace

StatusOr<std::unique_ptr<TensorBoardLog>> TensorBoardLog::Open(
    const std::string& dir, const EventFileWriter::Options& options) {
  ASSIGN_OR_RETURN(auto writer, EventFileWriter::Open(dir, options));
  return std::unique_ptr<TensorBoardLog>(new TensorBoardLog(std::move(writer)));
}

TbSummary TensorBoardLog::SummaryOf(const JsonValue& line) {
  TbSummary summary;
  if (!line.is_object()) return summary;
  const std::string event = line.StringOr("event", "");
  if (event == "train") {
    std::map<int, double> loads;  // expert -> share
    // "<domain>/<task>" -> expert -> mean gate weight
    std::map<std::string, std::map<int, double>> cell_loads;
    for (const auto& [key, value] : line.members()) {
      if (!value.is_number()) continue;
      if (StartsWith(key, "expert_load/")) {
        const size_t dot = key.rfind('.');
        if (dot != std::string::npos && dot > 12) {
          cell_loads[key.substr(12, dot - 12)][std::atoi(key.c_str() + dot + 1)] = value.number();
        }
        continue;
      }
      const std::string tag = TrainTag(key);
      if (tag.empty()) continue;
      AddScalar(tag, value.number(), &summary);
      if (StartsWith(key, "expert_load.")) {
        loads[std::atoi(key.c_str() + 12)] = value.number();
      }
    }
    if (!loads.empty()) {
      std::vector<double> shares;
      for (const auto& [e, share] : loads) shares.push_back(share);
      TbSummary::Value* v = summary.add_value();
      v->set_tag("experts/load");
      *v->mutable_histo() = MakeHistogram(shares, std::min<int>(30, shares.size()));
    }
    for (const auto& [cell, experts] : cell_loads) {
      std::vector<double> shares;
      for (const auto& [e, share] : experts) shares.push_back(share);
      TbSummary::Value* v = summary.add_value();
      v->set_tag("experts/load/" + cell);
      *v->mutable_histo() = MakeHistogram(shares, std::min<int>(30, shares.size()));
    }
  } else if (event == "eval" || event == "final") {
    const std::string_view prefix = event == "eval" ? "val_" : "test_";
    const std::string split = event == "eval" ? "val" : "test";
    for (const auto& [key, value] : line.members()) {
      if (!value.is_number()) continue;
      const std::string tag = EvalTag(key, prefix, split);
      if (!tag.empty()) AddScalar(tag, value.number(), &summary);
    }
  }
  return summary;
}

Status TensorBoardLog::Add(std::string_view metrics_line) {
  ASSIGN_OR_RETURN(const JsonValue line, JsonValue::Parse(metrics_line));
  if (!line.is_object()) return InvalidArgument("a metrics line must be a JSON object");
  const TbSummary summary = SummaryOf(line);
  if (summary.value_size() == 0) return Status::OK();
  return writer_->WriteSummary(static_cast<int64_t>(line.NumberOr("step", 0)), summary);
}

}  // namespace moerec
