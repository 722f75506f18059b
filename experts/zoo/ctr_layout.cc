// CtrModel's checks of its config and the layout of its parts (experts/zoo/ctr.h).
#include <glog/logging.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/bilinear.h"
#include "core/interaction.h"
#include "experts/zoo/ctr.h"
#include "experts/zoo/validate.h"

namespace moerec {

namespace {

// Bounds that catch typos, not models.
constexpr int kMaxLayers = 64;  // cross, CIN and attention layers
constexpr int kMaxCinMaps = 4096;
constexpr int kMaxAttentionHeads = 256;
constexpr int kMaxAttentionHeadDim = 4096;

bool FieldWise(CtrConfig::Backbone b) { return b != CtrConfig::WIDE_DEEP && b != CtrConfig::DCN; }

// The per-backbone fields, and the backbone each applies to.
struct BackboneField {
  const char* name;
  bool set;
  CtrConfig::Backbone backbone;
};

}  // namespace

int CtrModel::SenetBottleneck(const CtrConfig& c, int num_fields) {
  return std::max(1, num_fields / c.senet_reduction());
}

std::vector<int> CtrModel::CinMaps(const CtrConfig& c) {
  if (c.cin_layers_size() == 0) return {128, 128};
  return {c.cin_layers().begin(), c.cin_layers().end()};
}

BilinearType CtrModel::ToBilinearType(CtrConfig::BilinearType t) {
  switch (t) {
    case CtrConfig::FIELD_ALL:
      return BilinearType::kFieldAll;
    case CtrConfig::FIELD_EACH:
      return BilinearType::kFieldEach;
    case CtrConfig::FIELD_INTERACTION:
      return BilinearType::kFieldInteraction;
  }
  LOG(FATAL) << "unknown bilinear type " << static_cast<int>(t);
  return BilinearType::kFieldAll;
}

Status CtrModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const CtrConfig& c = config.ctr();
  const std::string backbone = CtrConfig::Backbone_Name(c.backbone());
  RETURN_IF_ERROR(ValidateMlpConfig(c.dnn(), "model.ctr.dnn", false));
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.ctr.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.ctr.tower_index"));
  const BackboneField fields[] = {
      {"cross_layers", c.has_cross_layers(), CtrConfig::DCN},
      {"cross_matrix", c.has_cross_matrix(), CtrConfig::DCN},
      {"product", c.has_product(), CtrConfig::PNN},
      {"cin_layers", c.cin_layers_size() > 0, CtrConfig::XDEEPFM},
      {"attention_layers", c.has_attention_layers(), CtrConfig::AUTOINT},
      {"attention_heads", c.has_attention_heads(), CtrConfig::AUTOINT},
      {"attention_head_dim", c.has_attention_head_dim(), CtrConfig::AUTOINT},
      {"attention_residual", c.has_attention_residual(), CtrConfig::AUTOINT},
      {"senet_reduction", c.has_senet_reduction(), CtrConfig::FIBINET},
      {"bilinear_type", c.has_bilinear_type(), CtrConfig::FIBINET},
  };
  for (const BackboneField& f : fields) {
    if (f.set && f.backbone != c.backbone()) {
      return InvalidArgument(std::string("model.ctr.") + f.name + " applies to backbone " +
                             CtrConfig::Backbone_Name(f.backbone) + ", not " + backbone);
    }
  }
  switch (c.backbone()) {
    case CtrConfig::DCN:
      RETURN_IF_ERROR(ValidateRange(c.cross_layers(), 1, kMaxLayers, "model.ctr.cross_layers"));
      break;
    case CtrConfig::XDEEPFM:
      RETURN_IF_ERROR(ValidateRange(c.cin_layers_size(), 0, kMaxLayers,
                                    "model.ctr.cin_layers: the number of layers"));
      for (int i = 0; i < c.cin_layers_size(); ++i) {
        RETURN_IF_ERROR(ValidateRange(c.cin_layers(i), 1, kMaxCinMaps,
                                      "model.ctr.cin_layers[" + std::to_string(i) + "]"));
      }
      break;
    case CtrConfig::AUTOINT:
      RETURN_IF_ERROR(
          ValidateRange(c.attention_layers(), 1, kMaxLayers, "model.ctr.attention_layers"));
      RETURN_IF_ERROR(
          ValidateRange(c.attention_heads(), 1, kMaxAttentionHeads, "model.ctr.attention_heads"));
      RETURN_IF_ERROR(ValidateRange(c.attention_head_dim(), 1, kMaxAttentionHeadDim,
                                    "model.ctr.attention_head_dim"));
      RETURN_IF_ERROR(ValidateRange(int64_t{c.attention_heads()} * c.attention_head_dim(), 1,
                                    kMaxLayerWidth,
                                    "model.ctr: attention_heads * attention_head_dim"));
      break;
    case CtrConfig::FIBINET:
      RETURN_IF_ERROR(
          ValidateRange(c.senet_reduction(), 1, kMaxLayerWidth, "model.ctr.senet_reduction"));
      break;
    default:
      break;
  }
  if (!FieldWise(c.backbone())) return Status::OK();
  const std::string what = "model.ctr: backbone " + backbone + " has field-wise layers, ";
  if (shape.slot_dims.empty()) {
    return InvalidArgument(what + "which need the widths of the slots; the model input has none");
  }
  if (shape.num_slots() < 2) {
    return InvalidArgument(what + "which need at least 2 slots, got " +
                           std::to_string(shape.num_slots()));
  }
  for (int s = 1; s < shape.num_slots(); ++s) {
    if (shape.slot_dims[s] != shape.slot_dims[0]) {
      return InvalidArgument("model.ctr: field-wise layers need every slot at the same dim; " +
                             shape.SlotLabel(0) + " has " + std::to_string(shape.slot_dims[0]) +
                             ", " + shape.SlotLabel(s) + " " + std::to_string(shape.slot_dims[s]));
    }
  }
  return Status::OK();
}

CtrModel::Layout CtrModel::LayoutFor(const ModelConfig& config, const ModelShape& shape,
                                     int64_t dnn_output) {
  const CtrConfig& c = config.ctr();
  Layout l;
  l.input = shape.num_features + config.domain_embedding_dim();
  if (FieldWise(c.backbone())) {
    l.num_fields = shape.num_slots();
    l.field_dim = shape.slot_dims[0];
  }
  const int64_t s = l.num_fields, k = l.field_dim, fields = s * k, rest = l.input - fields;
  const int64_t p = NumFieldPairs(s), t = shape.num_tasks;
  l.dnn_input = l.input;
  l.head_input = dnn_output;
  int64_t& params = l.parameters;
  int64_t& acts = l.activations_per_sample;
  switch (c.backbone()) {
    case CtrConfig::WIDE_DEEP:
    case CtrConfig::DEEPFM:
      l.linear = true;
      acts += c.backbone() == CtrConfig::DEEPFM ? k : 0;  // fm_
      break;
    case CtrConfig::DCN: {
      const int64_t d = l.input, w = c.cross_matrix() ? d : 1;
      l.interaction = d;
      params += c.cross_layers() * (d * w + d);
      acts += c.cross_layers() * (d + 2 * w) + 2 * d;  // y, z, dz per layer; two gradients
      break;
    }
    case CtrConfig::NFM:
      l.linear = true;
      l.interaction = k + rest;
      l.interaction_in_dnn = true;
      break;
    case CtrConfig::PNN: {
      const int64_t products = c.product() == CtrConfig::BOTH ? 2 : 1;
      l.interaction = l.input + products * p;
      l.interaction_in_dnn = true;
      if (c.product() != CtrConfig::INNER) params += p * k * k;
      break;
    }
    case CtrConfig::XDEEPFM: {
      l.linear = true;
      int64_t prev = s, widest = s;
      for (const int h : CinMaps(c)) {
        params += h * prev * s;
        acts += h * k;  // the layer's maps
        l.interaction += h;
        widest = std::max<int64_t>(widest, h);
        prev = h;
      }
      acts += 2 * widest * k;  // the gradients of two consecutive layers
      break;
    }
    case CtrConfig::AUTOINT: {
      const int64_t e = int64_t{c.attention_heads()} * c.attention_head_dim();
      int64_t in = k;
      for (int layer = 0; layer < c.attention_layers(); ++layer) {
        params += (c.attention_residual() ? 4 : 3) * in * e;
        // The kernel's cache (x, q, k, v, pre, attention weights) and working memory (dpre,
        // dq, dk, dv, dx), and the layer's output.
        acts += s * (2 * in + 10 * e) + c.attention_heads() * s * s;
        in = e;
      }
      l.interaction = s * e;
      acts += 2 * s * e;  // the gradients of two consecutive layers
      break;
    }
    case CtrConfig::FIBINET: {
      l.linear = true;
      const int64_t sr = SenetBottleneck(c, l.num_fields);
      const int64_t m = BilinearNumWeights(ToBilinearType(c.bilinear_type()), s);
      params += 2 * s * sr + 2 * m * k * k;
      l.interaction = 2 * p * k + rest;
      l.interaction_in_dnn = true;
      // SENET's output and its gradient, its cache; both bilinear caches (t and e).
      acts += 2 * fields + 2 * (2 * s + sr) + 2 * 2 * p * k;
      break;
    }
    default:
      LOG(FATAL) << "unknown backbone " << static_cast<int>(c.backbone());
  }
  if (l.interaction_in_dnn) {
    l.dnn_input = l.interaction;
    acts += 2 * l.dnn_input;  // the concatenation and its gradient
  } else if (l.interaction > 0) {
    l.head_input = l.interaction + dnn_output;
    acts += l.head_input;  // the concatenation
  }
  acts += l.head_input;  // the heads' input gradient
  if (l.linear) {
    params += l.input * t;
    acts += t;
  }
  return l;
}

}  // namespace moerec
