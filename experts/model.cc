#include "experts/model.h"

#include <algorithm>
#include <string>

#include "experts/layers/heads.h"
#include "experts/zoo/ctr.h"
#include "experts/zoo/m3oe.h"
#include "experts/zoo/mlora.h"
#include "experts/zoo/mmoe.h"
#include "experts/zoo/ple.h"
#include "experts/zoo/shared_bottom.h"
#include "experts/zoo/sparse_moe.h"
#include "experts/zoo/star.h"
#include "experts/zoo/two_tower.h"
#include "experts/zoo/validate.h"

namespace moerec {

std::string ModelShape::SlotLabel(int s) const {
  if (s < static_cast<int>(slot_names.size())) return "slot '" + slot_names[s] + "'";
  return "slot " + std::to_string(s);
}

namespace {

// The feature columns' layout, when the shape has one, covers the F columns exactly.
Status ValidateFeatureLayout(const ModelShape& shape) {
  if (shape.slot_dims.empty()) return Status::OK();
  CHECK(shape.slot_names.empty() || shape.slot_names.size() == shape.slot_dims.size())
      << "slot_names: one per slot, or none";
  int64_t columns = shape.num_dense;
  for (int s = 0; s < shape.num_slots(); ++s) {
    RETURN_IF_ERROR(
        ValidateAtLeast(shape.slot_dims[s], 1, "model input: the width of " + shape.SlotLabel(s)));
    columns += shape.slot_dims[s];
  }
  if (columns != shape.num_features) {
    return InvalidArgument("model input: " + std::to_string(shape.num_slots()) + " slots and " +
                           std::to_string(shape.num_dense) + " dense features make " +
                           std::to_string(columns) + " columns, not num_features " +
                           std::to_string(shape.num_features));
  }
  return Status::OK();
}

}  // namespace

Status ValidateModelConfig(const ModelConfig& config, const ModelShape& shape) {
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_features, 1, "model input: num_features"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_domains, 1, "data.num_domains"));
  RETURN_IF_ERROR(ValidateAtLeast(shape.num_tasks, 1, "data.num_tasks"));
  RETURN_IF_ERROR(ValidateFeatureLayout(shape));
  RETURN_IF_ERROR(ValidateRange(config.domain_embedding_dim(), 0, kMaxLayerWidth,
                                "model.domain_embedding_dim"));
  if (config.has_mlora() && config.kind_case() != ModelConfig::kSharedBottom) {
    RETURN_IF_ERROR(Mlora::Validate(config, shape));
  }
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom:
      return SharedBottomModel::Validate(config, shape);
    case ModelConfig::kMmoe:
      if (config.mmoe().placement().kind() != ExpertPlacementConfig::REPLICATED) {
        return SparseMoeModel::Validate(config, shape);
      }
      return MmoeModel::Validate(config, shape);
    case ModelConfig::kTopkMoe:
    case ModelConfig::kSmes:
      return SparseMoeModel::Validate(config, shape);
    case ModelConfig::kPle:
      return PleModel::Validate(config, shape);
    case ModelConfig::kStar:
      return StarModel::Validate(config, shape);
    case ModelConfig::kM3Oe:
      return M3oeModel::Validate(config, shape);
    case ModelConfig::kCtr:
      return CtrModel::Validate(config, shape);
    case ModelConfig::kTwoTower:
      return TwoTowerModel::Validate(config, shape);
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  std::string kinds;
  const google::protobuf::OneofDescriptor* kind =
      ModelConfig::descriptor()->FindOneofByName("kind");
  for (int i = 0; i < kind->field_count(); ++i)
    kinds += (i == 0 ? "" : ", ") + kind->field(i)->name();
  return InvalidArgument("model: no model kind is set; set one of " + kinds);
}

StatusOr<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const ModelShape& shape,
                                             uint64_t seed, const ModelContext& context) {
  RETURN_IF_ERROR(ValidateModelConfig(config, shape));
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom:
      return std::unique_ptr<Model>(new SharedBottomModel(config, shape, seed));
    case ModelConfig::kMmoe:
      if (config.mmoe().placement().kind() != ExpertPlacementConfig::REPLICATED) {
        return std::unique_ptr<Model>(new SparseMoeModel(config, shape, seed, context));
      }
      return std::unique_ptr<Model>(new MmoeModel(config, shape, seed));
    case ModelConfig::kTopkMoe:
    case ModelConfig::kSmes:
      return std::unique_ptr<Model>(new SparseMoeModel(config, shape, seed, context));
    case ModelConfig::kPle:
      return std::unique_ptr<Model>(new PleModel(config, shape, seed));
    case ModelConfig::kStar:
      return std::unique_ptr<Model>(new StarModel(config, shape, seed, context));
    case ModelConfig::kM3Oe:
      return std::unique_ptr<Model>(new M3oeModel(config, shape, seed));
    case ModelConfig::kCtr:
      return std::unique_ptr<Model>(new CtrModel(config, shape, seed));
    case ModelConfig::kTwoTower:
      return std::unique_ptr<Model>(new TwoTowerModel(config, shape, seed, context));
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return Internal("model: no model kind is set");
}

namespace {

// Each layer of a bank of `copies` MLPs: weights and bias, LayerNorm's gamma and beta, PReLU's
// slopes; per sample up to six (R, G*H) buffers (pre-activation, norm, activation, dropout
// mask, gradient, scratch). *width: the output width of one copy.
void AddMlp(const MlpConfig& c, int64_t in, int64_t copies, ModelSize* size, int64_t* width) {
  for (int l = 0; l < c.dims_size(); ++l) {
    const int64_t out = c.dims(l);
    size->parameters +=
        copies *
        (in * out + out * (1 + (c.layer_norm() ? 2 : 0) + (c.activation() == ACT_PRELU ? 1 : 0)));
    size->activations_per_sample += 6 * copies * out;
    in = out;
  }
  *width = in;
}

void AddTowers(const MlpConfig& hidden, HeadIndex index, const ModelShape& shape, int64_t in,
               int64_t streams, ModelSize* size) {
  const int64_t heads = NumHeads(index, shape.num_domains, shape.num_tasks);
  const int64_t outputs = index == BY_DOMAIN ? shape.num_tasks : 1;
  ModelSize one;
  int64_t width = 0;
  AddMlp(hidden, in, 1, &one, &width);
  size->parameters += heads * (one.parameters + width * outputs + outputs);
  // Every stream passes through a tower's hidden layers once per row.
  size->activations_per_sample += streams * (one.activations_per_sample + 2 * outputs);
}

// MoE-MLoRA's adapters on an MLP of `dnn`'s widths reading `in` columns, and its gate; per
// sample each active expert keeps t and u per layer, plus the row weights and their gradient.
void AddMlora(const MloraConfig& c, const MlpConfig& dnn, int64_t in, const ModelShape& shape,
              ModelSize* size) {
  const int64_t m = c.num_experts() > 0 ? c.num_experts() : shape.num_domains;
  for (const int out : dnn.dims()) {
    const int64_t r = std::max<int64_t>(out / c.reduce(), 1);
    size->parameters += m * (in * r + r * out + out);
    size->activations_per_sample += m * (r + out) + r + out;
    in = out;
  }
  if (c.mode() == MloraConfig::MOE_MLORA) {
    const int64_t e = c.gate_embedding_dim();
    size->parameters += shape.num_domains * e + e * m + m;
  }
  size->activations_per_sample += 2 * m;
}

// PLE's levels: the specific and shared banks, the stream gates and the shared gate, with the
// concatenated expert outputs, mixtures and their gradients. *width: the expert output width.
void AddPle(const PleConfig& c, const ModelShape& shape, int64_t in, ModelSize* size,
            int64_t* width) {
  const bool per_domain = c.gate_index() == BY_DOMAIN;
  const int64_t groups = per_domain ? shape.num_domains : shape.num_tasks;
  const int64_t streams = per_domain ? 1 : shape.num_tasks;
  const int64_t heads = c.gate_index() == BY_TASK ? 1 : shape.num_domains;
  const int64_t k = c.experts_per_task(), ks = c.shared_experts();
  for (int l = 0; l < c.num_levels(); ++l) {
    ModelSize banks;
    AddMlp(c.expert(), in, groups * k + ks, &banks, width);
    size->parameters += banks.parameters;
    // A row passes through one group's bank per stream that reads it.
    const int64_t row_copies = (per_domain ? k : groups * k) + ks;
    size->activations_per_sample += banks.activations_per_sample / (groups * k + ks) * row_copies;
    const int64_t h = *width, mixed = k + ks;
    size->parameters += streams * heads * in * mixed;
    // cat per stream and its gradient; probabilities, logit gradients and dprobs; the streams
    // and their gradients; the experts' output gradients.
    size->activations_per_sample +=
        streams * mixed * h + mixed * h + 3 * streams * mixed + 2 * streams * h + row_copies * h;
    if (l + 1 < c.num_levels() && ks > 0) {
      const int64_t all = (per_domain ? 1 : groups) * k + ks;
      size->parameters += heads * in * all;
      size->activations_per_sample += 2 * all * h + 3 * all + 2 * h;
    }
    in = h;
  }
}

}  // namespace

ModelSize EstimateModelSize(const ModelConfig& config, const ModelShape& shape) {
  ModelSize size;
  const int64_t de = config.domain_embedding_dim();
  const int64_t in = shape.num_features + de;
  size.parameters += shape.num_domains * de;
  size.activations_per_sample += 2 * in;  // the input with its domain embedding, its gradient
  int64_t width = 0;
  switch (config.kind_case()) {
    case ModelConfig::kSharedBottom: {
      const SharedBottomConfig& c = config.shared_bottom();
      AddMlp(c.bottom(), in, 1, &size, &width);
      AddTowers(c.tower(), c.tower_index(), shape, width, 1, &size);
      if (config.has_mlora()) AddMlora(config.mlora(), c.bottom(), in, shape, &size);
      break;
    }
    case ModelConfig::kMmoe: {
      const MmoeConfig& c = config.mmoe();
      const int64_t e = c.num_experts();
      AddMlp(c.expert(), in, e, &size, &width);
      const int64_t gate_heads = NumHeads(c.gate_index(), shape.num_domains, shape.num_tasks);
      const int64_t streams = c.gate_index() == BY_DOMAIN ? 1 : shape.num_tasks;
      size.parameters += in * gate_heads * e;
      // Gate logits and weights with their gradients; the mixture and its gradient.
      size.activations_per_sample += 4 * gate_heads * e + 2 * streams * width + e * width;
      AddTowers(c.tower(), c.tower_index(), shape, width, streams, &size);
      break;
    }
    case ModelConfig::kPle: {
      const PleConfig& c = config.ple();
      AddPle(c, shape, in, &size, &width);
      const int64_t streams = c.gate_index() == BY_DOMAIN ? 1 : shape.num_tasks;
      AddTowers(c.tower(), c.tower_index(), shape, width, streams, &size);
      break;
    }
    case ModelConfig::kStar: {
      const StarConfig& c = config.star();
      const int64_t f = shape.num_features, d = shape.num_domains;
      // Partitioned norm: shared and per-domain scale and shift (its running statistics are
      // buffers); its output and two gradients.
      if (c.partitioned_norm()) {
        size.parameters += 2 * f * (1 + d);
        size.activations_per_sample += 3 * f;
      }
      int64_t star_in = f;
      for (const int out : c.star().dims()) {
        size.parameters += (star_in * out + out) * (1 + d);
        size.activations_per_sample += 2 * out;
        star_in = out;
      }
      AddTowers(c.tower(), c.tower_index(), shape, star_in, 1, &size);
      if (c.has_aux()) {
        AddMlp(c.aux(), in, 1, &size, &width);
        size.parameters += width * shape.num_tasks + shape.num_tasks;
        size.activations_per_sample += 2 * width + shape.num_tasks;
      }
      break;
    }
    case ModelConfig::kM3Oe: {
      const M3oeConfig& c = config.m3oe();
      const int64_t d = shape.num_domains, t = shape.num_tasks, u = c.star_dim();
      const int64_t n = c.num_shared_experts();
      size.parameters += (in * u + u) * (1 + d) + 4;  // the star layer, theta
      size.activations_per_sample += 2 * u;
      int64_t r = 0;
      AddMlp(c.representation(), u, 1, &size, &r);
      AddMlp(c.representation(), in, 1, &size, &r);
      size.activations_per_sample += 2 * r;  // h and its gradient
      AddMlp(c.expert(), r, n + d + t, &size, &width);
      size.parameters += d * r * t * n;  // the (domain, task) gates
      // Gate probabilities, logit gradients and dprobs; S, z and dz; the experts' gradients.
      size.activations_per_sample += 3 * t * n + 3 * t * width + (n + d + t) * width;
      AddTowers(c.tower(), c.tower_index(), shape, width, t, &size);
      break;
    }
    case ModelConfig::kCtr: {
      const CtrConfig& c = config.ctr();
      const CtrModel::Layout layout =
          CtrModel::LayoutFor(config, shape, c.dnn().dims(c.dnn().dims_size() - 1));
      size.parameters += layout.parameters;
      size.activations_per_sample += layout.activations_per_sample;
      AddMlp(c.dnn(), layout.dnn_input, 1, &size, &width);
      AddTowers(c.tower(), c.tower_index(), shape, layout.head_input, 1, &size);
      if (config.has_mlora()) AddMlora(config.mlora(), c.dnn(), layout.dnn_input, shape, &size);
      break;
    }
    case ModelConfig::kTopkMoe:
    case ModelConfig::kSmes: {
      // Upper bound: every expert held here (replicated), every row at k experts per stream.
      const bool topk = config.kind_case() == ModelConfig::kTopkMoe;
      const int64_t e = topk ? config.topk_moe().num_experts() : config.smes().num_experts();
      const int64_t streams = topk ? 1 : shape.num_tasks;
      const int64_t k = topk ? config.topk_moe().top_k()
                             : config.smes().shared_k() + streams * config.smes().private_k();
      int64_t h = in;
      if (topk && config.topk_moe().has_encoder())
        AddMlp(config.topk_moe().encoder(), in, 1, &size, &h);
      if (!topk) AddMlp(config.smes().encoder(), in, 1, &size, &h);
      const MlpConfig& expert = topk ? config.topk_moe().expert() : config.smes().expert();
      ModelSize one;
      AddMlp(expert, h, 1, &one, &width);
      size.parameters += e * one.parameters + h * streams * e;
      // k routed rows per sample through the experts (with the dispatch buffers), the router's
      // logits, probabilities, weights and their gradients, the mixtures and their gradients.
      size.activations_per_sample += k * (one.activations_per_sample + 4 * (h + width)) +
                                     8 * streams * e + 2 * streams * width;
      AddTowers(topk ? config.topk_moe().tower() : config.smes().tower(),
                topk ? config.topk_moe().tower_index() : config.smes().tower_index(), shape, width,
                streams, &size);
      break;
    }
    case ModelConfig::kTwoTower: {
      // Both towers as plain MLPs of their widths (a SAP adds 2R (I + O) per layer, a SAP-MMoE
      // K experts); the candidate logits are per step, not per sample: (B, B_global) is bounded
      // here by 64 candidates' worth per sample and row.
      const TwoTowerConfig& c = config.two_tower();
      for (const TowerConfig* t : {&c.user_tower(), &c.item_tower()}) {
        if (t->has_sap_mmoe()) {
          MlpConfig m;
          for (const int dim : t->sap_mmoe().dims()) m.add_dims(dim);
          m.add_dims(t->sap_mmoe().output_dim());
          AddMlp(m, in, t->sap_mmoe().num_experts(), &size, &width);
        } else {
          AddMlp(t->mlp(), in, 1, &size, &width);
        }
      }
      size.parameters += c.frequency_buckets() + 1;
      size.activations_per_sample += 6 * width + 64;
      break;
    }
    case ModelConfig::KIND_NOT_SET:
      break;
  }
  return size;
}

void CheckModelBatch(const ModelBatch& batch, const ModelShape& shape, int64_t out_rows,
                     int64_t out_cols) {
  CHECK_GE(batch.size, 0);
  CHECK_EQ(batch.features.rows, batch.size) << "features rows";
  CHECK_EQ(batch.features.cols, shape.num_features) << "features columns";
  CheckDomainBegin(batch.domain_begin, shape.num_domains, batch.size);
  CHECK_EQ(out_rows, batch.size) << "logits rows";
  CHECK_EQ(out_cols, shape.num_tasks) << "logits columns";
}

}  // namespace moerec
