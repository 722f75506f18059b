#include "experts/zoo/ctr.h"

#include <glog/logging.h>

#include "core/interaction.h"
#include "core/linear.h"
#include "core/random.h"

namespace moerec {

CtrModel::CtrModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed)
    : Model(shape), backbone_(config.ctr().backbone()) {
  const CtrConfig& c = config.ctr();
  layout_ = LayoutFor(config, shape, c.dnn().dims(c.dnn().dims_size() - 1));
  const int s = layout_.num_fields;
  const int64_t k = layout_.field_dim;
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  CHECK_EQ(input_.output_dim(), layout_.input);
  if (layout_.linear) {
    linear_ = Linear(&params_, backbone_ == CtrConfig::WIDE_DEEP ? "wide" : "linear", layout_.input,
                     shape.num_tasks, seed, false);
  }
  switch (backbone_) {
    case CtrConfig::DCN:
      cross_ = CrossNet(c.cross_matrix() ? CrossMode::kMatrix : CrossMode::kVector,
                        c.cross_layers(), layout_.input, "cross", &params_, seed);
      break;
    case CtrConfig::PNN:
      products_ = FieldProducts(c.product() != CtrConfig::OUTER, c.product() != CtrConfig::INNER, s,
                                k, "product", &params_, seed);
      CHECK_EQ(layout_.input + products_.output_dim(), layout_.interaction);
      break;
    case CtrConfig::XDEEPFM:
      cin_ = CinNet(CinMaps(c), s, k, "cin", &params_, seed);
      CHECK_EQ(cin_.output_dim(), layout_.interaction);
      break;
    case CtrConfig::AUTOINT:
      attention_ =
          FieldAttentionStack(c.attention_layers(), c.attention_heads(), c.attention_head_dim(),
                              c.attention_residual(), s, k, "attention", &params_, seed);
      CHECK_EQ(attention_.output_dim(), layout_.interaction);
      break;
    case CtrConfig::FIBINET: {
      const BilinearType type = ToBilinearType(c.bilinear_type());
      senet_ = Senet(s, SenetBottleneck(c, s), "senet", &params_, seed);
      bilinear_ = FieldBilinear(type, s, k, "bilinear", &params_, seed);
      senet_bilinear_ = FieldBilinear(type, s, k, "senet_bilinear", &params_, seed);
      break;
    }
    default:
      break;
  }
  dnn_ = Mlp(c.dnn(), layout_.dnn_input, 1, "dnn", &params_, seed);
  if (config.has_mlora()) {
    mlora_ = std::make_unique<Mlora>(config.mlora(), &dnn_, shape, &params_, seed);
  }
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks,
                   layout_.head_input, 1, "towers", &params_, seed);
}

ConstMatView CtrModel::DnnInputForward(int64_t rows) {
  if (!layout_.interaction_in_dnn) return x_;
  const int64_t fields = layout_.num_fields * layout_.field_dim;
  const ConstMatView v = x_.Cols(0, fields);
  const ConstMatView rest = x_.Cols(fields, layout_.input - fields);
  dnn_buf_.Resize({rows, layout_.dnn_input});
  const MatView in = dnn_buf_.view();
  int64_t col = 0;  // where r goes
  switch (backbone_) {
    case CtrConfig::NFM:
      BiInteractionForward(v, layout_.num_fields, in.Cols(0, layout_.field_dim));
      col = layout_.field_dim;
      break;
    case CtrConfig::PNN:
      CopyMat(x_, in.Cols(0, layout_.input));
      products_.Forward(v, in.Cols(layout_.input, products_.output_dim()));
      return dnn_buf_.view();  // x is there whole, r included
    case CtrConfig::FIBINET: {
      const int64_t width = bilinear_.output_dim();
      bilinear_.Forward(v, in.Cols(0, width));
      senet_v_ = senet_.Forward(v);
      senet_bilinear_.Forward(senet_v_, in.Cols(width, width));
      col = 2 * width;
      break;
    }
    default:
      LOG(FATAL) << "backbone " << CtrConfig::Backbone_Name(backbone_) << " reads x";
  }
  if (rest.cols > 0) CopyMat(rest, in.Cols(col, rest.cols));
  return dnn_buf_.view();
}

void CtrModel::DnnInputBackward(MatView dx) {
  const int64_t fields = layout_.num_fields * layout_.field_dim;
  const ConstMatView v = x_.Cols(0, fields);
  const MatView dv = dx.Cols(0, fields);
  const ConstMatView din = ddnn_in_.view();
  int64_t col = 0;  // where r's gradient is
  switch (backbone_) {
    case CtrConfig::NFM:
      BiInteractionBackward(v, layout_.num_fields, din.Cols(0, layout_.field_dim), dv, 1.0f);
      col = layout_.field_dim;
      break;
    case CtrConfig::PNN:
      AddMat(din.Cols(0, layout_.input), dx);
      products_.Backward(v, din.Cols(layout_.input, products_.output_dim()), dv, 1.0f);
      return;
    case CtrConfig::FIBINET: {
      const int64_t width = bilinear_.output_dim();
      bilinear_.Backward(v, din.Cols(0, width), dv, 1.0f);
      dsenet_v_.Resize({x_.rows, fields});
      senet_bilinear_.Backward(senet_v_, din.Cols(width, width), dsenet_v_.view(), 0.0f);
      senet_.Backward(v, dsenet_v_.view(), dv, 1.0f);
      col = 2 * width;
      break;
    }
    default:
      LOG(FATAL) << "backbone " << CtrConfig::Backbone_Name(backbone_) << " reads x";
  }
  const int64_t rest = layout_.input - fields;
  if (rest > 0) AddMat(din.Cols(col, rest), dx.Cols(fields, rest));
}

ConstMatView CtrModel::HeadInputForward(int64_t rows) {
  if (layout_.interaction_in_dnn || layout_.interaction == 0) return dnn_out_;
  const int64_t z = layout_.interaction;
  head_buf_.Resize({rows, layout_.head_input});
  const MatView in = head_buf_.view();
  const ConstMatView v = x_.Cols(0, layout_.num_fields * layout_.field_dim);
  switch (backbone_) {
    case CtrConfig::DCN:
      CopyMat(cross_.Forward(x_), in.Cols(0, z));
      break;
    case CtrConfig::XDEEPFM:
      cin_.Forward(v, in.Cols(0, z));
      break;
    case CtrConfig::AUTOINT:
      CopyMat(attention_.Forward(v), in.Cols(0, z));
      break;
    default:
      LOG(FATAL) << "backbone " << CtrConfig::Backbone_Name(backbone_) << " has no side part";
  }
  CopyMat(dnn_out_, in.Cols(z, dnn_out_.cols));
  return head_buf_.view();
}

void CtrModel::HeadInputBackward(MatView dx) {
  const int64_t z = layout_.interaction;
  const ConstMatView dside = dhead_in_.view().Cols(0, z);
  const int64_t fields = layout_.num_fields * layout_.field_dim;
  switch (backbone_) {
    case CtrConfig::DCN:
      cross_.Backward(x_, dside, dx, 1.0f);
      break;
    case CtrConfig::XDEEPFM:
      cin_.Backward(x_.Cols(0, fields), dside, dx.Cols(0, fields), 1.0f);
      break;
    case CtrConfig::AUTOINT:
      attention_.Backward(dside, dx.Cols(0, fields), 1.0f);
      break;
    default:
      LOG(FATAL) << "backbone " << CtrConfig::Backbone_Name(backbone_) << " has no side part";
  }
}

ConstMatView CtrModel::Ones(int64_t k) {
  if (ones_.rows() != k || ones_.cols() != shape_.num_tasks) {
    ones_.Resize({k, shape_.num_tasks});
    ones_.Fill(1.0f);
  }
  return ones_.view();
}

void CtrModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  if (batch.size == 0) return;
  x_ = input_.Forward(batch.features, batch.domain_begin);
  dnn_in_ = DnnInputForward(batch.size);
  if (mlora_) mlora_->BeforeForward(batch);
  dnn_out_ = dnn_.Forward(dnn_in_, batch.training, HashCombine(batch.seed, 1), &dnn_cache_);
  head_in_ = HeadInputForward(batch.size);
  towers_.Forward(head_in_, batch.domain_begin, batch.training, HashCombine(batch.seed, 2), logits);
  if (layout_.linear) {
    linear_out_.Resize({batch.size, shape_.num_tasks});
    linear_.Forward(x_, linear_out_.view());
    AddMat(linear_out_.view(), logits);
  }
  if (backbone_ == CtrConfig::DEEPFM) {
    // The FM term, one number per row, on every task's logit.
    const int64_t k = layout_.field_dim;
    fm_.Resize({batch.size, k});
    BiInteractionForward(x_.Cols(0, layout_.num_fields * k), layout_.num_fields, fm_.view());
    // logits += fm 1 with 1 a (k, T) matrix of ones: the row sums, as a GEMM (so it runs where
    // the model runs).
    Gemm(false, false, 1.0f, fm_.view(), Ones(k), 1.0f, logits);
  }
}

void CtrModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  if (batch.size == 0) return;
  MatView dx = input_.GradBuffer(batch.size, dfeatures);
  if (dx.data == nullptr) {
    // The field-wise layers chain their input gradients through dx: give them one.
    dx_buf_.Resize({batch.size, layout_.input});
    dx = dx_buf_.view();
  }
  ScaleMat(0.0f, dx);  // every part below adds its share
  dhead_in_.Resize({batch.size, layout_.head_input});
  towers_.Backward(head_in_, batch.domain_begin, dlogits, dhead_in_.view());
  const bool side = !layout_.interaction_in_dnn && layout_.interaction > 0;
  const MatView ddnn_out = dhead_in_.view().Cols(side ? layout_.interaction : 0, dnn_out_.cols);
  if (side) HeadInputBackward(dx);
  if (!layout_.interaction_in_dnn) {
    dnn_.Backward(x_, ddnn_out, dx, 1.0f, &dnn_cache_);
  } else {
    ddnn_in_.Resize({batch.size, layout_.dnn_input});
    dnn_.Backward(dnn_in_, ddnn_out, ddnn_in_.view(), 0.0f, &dnn_cache_);
    DnnInputBackward(dx);
  }
  if (mlora_) mlora_->AfterBackward(batch);
  if (layout_.linear) linear_.Backward(x_, dlogits, dx, 1.0f);
  if (backbone_ == CtrConfig::DEEPFM) {
    // d FM / d BiInteraction = the row's summed logit gradient, on every column.
    const int64_t k = layout_.field_dim;
    fm_.Resize({batch.size, k});
    Gemm(false, true, 1.0f, dlogits, Ones(k), 0.0f, fm_.view());  // dlogits 1^T: (B, k)
    BiInteractionBackward(x_.Cols(0, layout_.num_fields * k), layout_.num_fields, fm_.view(),
                          dx.Cols(0, layout_.num_fields * k), 1.0f);
  }
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<ModelPhase> CtrModel::Phases() const {
  return mlora_ ? mlora_->Phases() : std::vector<ModelPhase>{};
}

void CtrModel::EnterPhase(int phase) {
  if (mlora_) mlora_->EnterPhase(phase);
}

std::vector<std::pair<std::string, double>> CtrModel::Stats() const {
  return mlora_ ? mlora_->Stats() : std::vector<std::pair<std::string, double>>();
}

}  // namespace moerec
