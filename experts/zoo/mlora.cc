#include "experts/zoo/mlora.h"

#include <algorithm>
#include <string>

#include "core/linear.h"
#include "experts/layers/gate.h"
#include "experts/layers/heads.h"
#include "experts/zoo/validate.h"

namespace moerec {
namespace {

constexpr int kMaxExperts = 4096;

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

Status CheckBudget(const PhaseBudget& b, const std::string& field) {
  RETURN_IF_ERROR(ValidateRange(b.epochs(), 1, 1 << 20, field + ".epochs"));
  return ValidateRange(b.early_stop_patience(), 0, 1 << 20, field + ".early_stop_patience");
}

}  // namespace

Status Mlora::Validate(const ModelConfig& config, const ModelShape& shape) {
  if (!config.has_mlora()) return Status::OK();
  const MloraConfig& c = config.mlora();
  if (config.kind_case() != ModelConfig::kSharedBottom && config.kind_case() != ModelConfig::kCtr) {
    return InvalidArgument(
        "model.mlora: the adapters attach to a model's DNN: shared_bottom (its bottom) or a ctr "
        "backbone (its dnn)");
  }
  RETURN_IF_ERROR(ValidateRange(c.num_experts(), 0, kMaxExperts, "model.mlora.num_experts"));
  RETURN_IF_ERROR(ValidateRange(c.reduce(), 1, kMaxLayerWidth, "model.mlora.reduce"));
  RETURN_IF_ERROR(
      ValidateRange(c.gate_embedding_dim(), 1, kMaxLayerWidth, "model.mlora.gate_embedding_dim"));
  if (c.mode() == MloraConfig::MLORA && c.num_experts() != 0 &&
      c.num_experts() != shape.num_domains) {
    return InvalidArgument("model.mlora.num_experts must be 0 or data.num_domains (" +
                           std::to_string(shape.num_domains) +
                           ") in mode MLORA (one adapter per domain), got " +
                           std::to_string(c.num_experts()));
  }
  RETURN_IF_ERROR(CheckBudget(c.backbone(), "model.mlora.backbone"));
  RETURN_IF_ERROR(CheckBudget(c.expert(), "model.mlora.expert"));
  return CheckBudget(c.gate(), "model.mlora.gate");
}

Mlora::Mlora(const MloraConfig& config, Mlp* dnn, const ModelShape& shape, ParameterSet* params,
             uint64_t seed)
    : config_(config),
      num_domains_(shape.num_domains),
      num_experts_(config.num_experts() > 0 ? config.num_experts() : shape.num_domains),
      adapters_(*dnn, num_experts_, config.reduce(), "mlora.experts", params, seed) {
  if (config.mode() == MloraConfig::MOE_MLORA) {
    gate_ = MloraGate(shape.num_domains, config.gate_embedding_dim(), num_experts_, "mlora.gate",
                      params, seed);
  }
  weights_ = config.mode() == MloraConfig::MLORA ? Weights::kDomain : Weights::kNone;
  num_tasks_ = shape.num_tasks;
  dnn->set_adapter(&adapters_);
}

void Mlora::BeforeForward(const ModelBatch& batch) {
  domain_begin_ = batch.domain_begin;
  const int64_t rows = batch.size;
  w_.Resize({std::max<int64_t>(rows, 1), num_experts_});
  MatView dw{};
  switch (weights_) {
    case Weights::kNone:
      w_.Fill(0.0f);
      break;
    case Weights::kExpert:
    case Weights::kDomain: {
      // 0/1 weights by domain, set on the host from the domains' row blocks (rows are sorted by
      // domain) and copied to w_'s device.
      Tensor host({std::max<int64_t>(rows, 1), num_experts_}, nullptr);
      host.Fill(0.0f);
      for (int d = 0; d < num_domains_; ++d) {
        const int m = weights_ == Weights::kDomain ? d : expert_;
        if (weights_ == Weights::kExpert && d != expert_ % num_domains_) continue;
        const RowRange r = DomainRows(batch.domain_begin, d);
        for (int64_t i = r.begin; i < r.end; ++i) host.at(i, m) = 1.0f;
      }
      w_ = host;  // copy assignment: to w_'s device
      break;
    }
    case Weights::kGate: {
      CopyMat(gate_.RowWeights(batch.domain_begin), w_.view().Rows(0, rows));
      dw_.Resize({std::max<int64_t>(rows, 1), num_experts_});
      dw_.Fill(0.0f);
      dw = dw_.view().Rows(0, rows);
      break;
    }
  }
  adapters_.SetRowWeights(w_.view().Rows(0, rows), dw);
}

void Mlora::AfterBackward(const ModelBatch& batch) {
  if (weights_ == Weights::kGate)
    gate_.Backward(batch.domain_begin, dw_.view().Rows(0, batch.size));
}

std::vector<std::pair<std::string, double>> Mlora::Stats() const {
  if (weights_ != Weights::kGate || domain_begin_.size() < 2) return {};
  const ConstMatView w = w_.view().Rows(0, domain_begin_.back());
  std::vector<std::pair<std::string, double>> out = ExpertLoadStats({w}, num_experts_);
  for (auto& load : DomainTaskLoadStats({w}, domain_begin_, num_tasks_)) {
    out.push_back(std::move(load));
  }
  return out;
}

std::vector<ModelPhase> Mlora::Phases() const {
  if (config_.mode() != MloraConfig::MOE_MLORA) return {};
  std::vector<ModelPhase> phases;
  ModelPhase backbone;
  backbone.name = "backbone";
  backbone.epochs = config_.backbone().epochs();
  backbone.early_stop_patience = config_.backbone().early_stop_patience();
  backbone.single_domain_batches = config_.single_domain_batches();
  backbone.trains = [](const Parameter& p) { return !StartsWith(p.name, "mlora."); };
  phases.push_back(backbone);
  for (int m = 0; m < num_experts_; ++m) {
    ModelPhase e;
    e.name = "expert." + std::to_string(m);
    e.domain = m % num_domains_;
    e.train_rows = false;
    e.epochs = config_.expert().epochs();
    e.early_stop_patience = config_.expert().early_stop_patience();
    const std::string prefix = "mlora.experts." + std::to_string(m) + ".";
    e.trains = [prefix](const Parameter& p) { return StartsWith(p.name, prefix); };
    phases.push_back(e);
  }
  ModelPhase gate;
  gate.name = "gate";
  gate.train_rows = false;
  gate.epochs = config_.gate().epochs();
  gate.early_stop_patience = config_.gate().early_stop_patience();
  gate.single_domain_batches = config_.single_domain_batches();
  gate.trains = [](const Parameter& p) { return StartsWith(p.name, "mlora.gate."); };
  phases.push_back(gate);
  return phases;
}

void Mlora::EnterPhase(int phase) {
  if (config_.mode() != MloraConfig::MOE_MLORA) return;
  CHECK(phase >= 0 && phase <= num_experts_ + 1) << "phase " << phase;
  if (phase == 0) {
    weights_ = Weights::kNone;
  } else if (phase <= num_experts_) {
    weights_ = Weights::kExpert;
    expert_ = phase - 1;
  } else {
    weights_ = Weights::kGate;
  }
}

}  // namespace moerec
