#include "experts/zoo/ple.h"

#include <algorithm>
#include <cmath>

#include "core/gated_mix.h"
#include "core/linear.h"
#include "core/random.h"
#include "experts/zoo/validate.h"

namespace moerec {
namespace {

// Bounded so that a typo does not allocate a model of millions of experts.
constexpr int kMaxExperts = 4096;
constexpr int kMaxLevels = 64;

// Through the kernel layer, so that it runs where the model runs.
void Zero(MatView m) { ScaleMat(0.0f, m); }

// Gradients of the level's inputs: the streams and the shared input.
struct LevelGrads {
  std::vector<MatView> streams;
  MatView shared;
};

}  // namespace

Status PleModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const PleConfig& c = config.ple();
  RETURN_IF_ERROR(ValidateRange(c.num_levels(), 1, kMaxLevels, "model.ple.num_levels"));
  RETURN_IF_ERROR(
      ValidateRange(c.experts_per_task(), 1, kMaxExperts, "model.ple.experts_per_task"));
  RETURN_IF_ERROR(ValidateRange(c.shared_experts(), 0, kMaxExperts, "model.ple.shared_experts"));
  RETURN_IF_ERROR(ValidateMlpConfig(c.expert(), "model.ple.expert", false));
  RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.ple.tower", true));
  RETURN_IF_ERROR(ValidateHeadIndex(c.gate_index(), "model.ple.gate_index"));
  RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.ple.tower_index"));
  const int groups = c.gate_index() == BY_DOMAIN ? shape.num_domains : shape.num_tasks;
  RETURN_IF_ERROR(ValidateRange(
      static_cast<int64_t>(groups) * c.experts_per_task() + c.shared_experts(), 1, kMaxExperts,
      "model.ple: experts per level (groups * experts_per_task + "
      "shared_experts)"));
  return Status::OK();
}

PleModel::PleModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed)
    : Model(shape) {
  const PleConfig& c = config.ple();
  num_levels_ = c.num_levels();
  per_group_ = c.experts_per_task();
  shared_ = c.shared_experts();
  per_domain_groups_ = c.gate_index() == BY_DOMAIN;
  groups_ = per_domain_groups_ ? shape.num_domains : shape.num_tasks;
  streams_ = per_domain_groups_ ? 1 : shape.num_tasks;
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  const HeadIndex gate_heads = c.gate_index() == BY_TASK ? BY_TASK : BY_DOMAIN;
  levels_.resize(num_levels_);
  for (int l = 0; l < num_levels_; ++l) {
    Level& level = levels_[l];
    const std::string name = "levels." + std::to_string(l);
    const int64_t in = l == 0 ? input_.output_dim() : width_;
    for (int g = 0; g < groups_; ++g) {
      level.specific.emplace_back(c.expert(), in, per_group_,
                                  name + ".experts." + std::to_string(g), &params_, seed);
    }
    width_ = level.specific[0].output_dim();
    if (shared_ > 0) level.shared = Mlp(c.expert(), in, shared_, name + ".shared", &params_, seed);
    for (int s = 0; s < streams_; ++s) {
      level.gates.emplace_back(gate_heads, shape.num_domains, 1, in, per_group_ + shared_,
                               name + ".gates." + std::to_string(s), &params_, seed);
    }
    level.has_shared_gate = l + 1 < num_levels_ && shared_ > 0;
    if (level.has_shared_gate) {
      const int all = (per_domain_groups_ ? 1 : groups_) * per_group_ + shared_;
      level.shared_gate = SoftmaxGates(gate_heads, shape.num_domains, 1, in, all,
                                       name + ".shared_gate", &params_, seed);
    }
    level.specific_cache.resize(groups_);
    level.specific_out.resize(groups_);
    level.dspecific.resize(groups_);
    level.cat.resize(streams_);
    level.gate_cache.resize(streams_);
    level.probs.resize(streams_);
  }
  towers_ = Towers(c.tower(), c.tower_index(), shape.num_domains, shape.num_tasks, width_, streams_,
                   "towers", &params_, seed);
}

RowRange PleModel::GroupRows(const std::vector<int64_t>& domain_begin, int g) const {
  return DomainRows(domain_begin, per_domain_groups_ ? g : -1);
}

ConstMatView PleModel::AllExperts(const Level& level) const {
  return per_domain_groups_ ? level.cat[0].view() : level.cat_all.view();
}

void PleModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  levels_.back().probs.assign(streams_, ConstMatView());
  domain_begin_ = batch.domain_begin;
  if (batch.size == 0) return;
  const int64_t rows = batch.size, h = width_;
  const int64_t own = per_group_ * h;
  x_ = input_.Forward(batch.features, batch.domain_begin);
  const uint64_t expert_seed = HashCombine(batch.seed, 1);
  for (int l = 0; l < num_levels_; ++l) {
    Level& level = levels_[l];
    const Level* prev = l == 0 ? nullptr : &levels_[l - 1];
    auto stream_in = [&](int s) { return prev ? prev->out.view().Cols(s * h, h) : x_; };
    const ConstMatView shared_in = prev && prev->has_shared_gate ? prev->shared_mix.view() : x_;
    for (int g = 0; g < groups_; ++g) {
      const RowRange r = GroupRows(batch.domain_begin, g);
      level.specific_out[g] = ConstMatView();
      if (r.size() == 0) continue;
      level.specific_out[g] = level.specific[g].Forward(
          stream_in(GroupStream(g)).Rows(r.begin, r.size()), batch.training,
          HashCombine(expert_seed, l * (groups_ + 1) + g), &level.specific_cache[g]);
    }
    if (shared_ > 0) {
      level.shared_out = level.shared.Forward(shared_in, batch.training,
                                              HashCombine(expert_seed, l * (groups_ + 1) + groups_),
                                              &level.shared_cache);
    }
    level.out.Resize({rows, streams_ * h});
    for (int s = 0; s < streams_; ++s) {
      Tensor& cat = level.cat[s];
      cat.Resize({rows, own + shared_ * h});
      for (int g = 0; g < groups_; ++g) {
        const RowRange r = GroupRows(batch.domain_begin, g);
        if (GroupStream(g) != s || r.size() == 0) continue;
        CopyMat(level.specific_out[g], cat.view().Rows(r.begin, r.size()).Cols(0, own));
      }
      if (shared_ > 0) CopyMat(level.shared_out, cat.view().Cols(own, shared_ * h));
      level.probs[s] =
          level.gates[s].Forward(stream_in(s), batch.domain_begin, &level.gate_cache[s]);
      GatedMixForward(cat.view(), level.probs[s], per_group_ + shared_,
                      level.out.view().Cols(s * h, h));
    }
    if (level.has_shared_gate) {
      if (!per_domain_groups_) {
        level.cat_all.Resize({rows, groups_ * own + shared_ * h});
        for (int g = 0; g < groups_; ++g)
          CopyMat(level.specific_out[g], level.cat_all.view().Cols(g * own, own));
        CopyMat(level.shared_out, level.cat_all.view().Cols(groups_ * own, shared_ * h));
      }
      const ConstMatView all = AllExperts(level);
      level.shared_probs =
          level.shared_gate.Forward(shared_in, batch.domain_begin, &level.shared_gate_cache);
      level.shared_mix.Resize({rows, h});
      GatedMixForward(all, level.shared_probs, static_cast<int>(all.cols / h),
                      level.shared_mix.view());
    }
  }
  towers_.Forward(levels_.back().out.view(), batch.domain_begin, batch.training,
                  HashCombine(batch.seed, 2), logits);
}

void PleModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  if (batch.size == 0) return;
  const int64_t rows = batch.size, h = width_;
  const int64_t own = per_group_ * h;
  Level& last = levels_.back();
  last.dout.ResizeLike(last.out);
  towers_.Backward(last.out.view(), batch.domain_begin, dlogits, last.dout.view());
  const MatView dx = input_.GradBuffer(rows, dfeatures);
  if (dx.data != nullptr) Zero(dx);
  for (int l = num_levels_ - 1; l >= 0; --l) {
    Level& level = levels_[l];
    Level* prev = l == 0 ? nullptr : &levels_[l - 1];
    // Where the gradients of this level's inputs go; every consumer adds to them.
    LevelGrads in;
    if (prev == nullptr) {
      in.streams.assign(streams_, dx);
      in.shared = dx;
    } else {
      prev->dout.ResizeLike(prev->out);
      Zero(prev->dout.view());
      for (int s = 0; s < streams_; ++s) in.streams.push_back(prev->dout.view().Cols(s * h, h));
      if (prev->has_shared_gate) {
        prev->dshared_mix.ResizeLike(prev->shared_mix);
        Zero(prev->dshared_mix.view());
        in.shared = prev->dshared_mix.view();
      }
    }
    auto stream_in = [&](int s) { return prev ? prev->out.view().Cols(s * h, h) : x_; };
    const ConstMatView shared_in = prev && prev->has_shared_gate ? prev->shared_mix.view() : x_;
    for (int g = 0; g < groups_; ++g) {
      const RowRange r = GroupRows(batch.domain_begin, g);
      level.dspecific[g].Resize({std::max<int64_t>(r.size(), 1), own});
      Zero(level.dspecific[g].view());
    }
    if (shared_ > 0) {
      level.dshared.Resize({rows, shared_ * h});
      Zero(level.dshared.view());
    }
    // Adds the gradient of a [own group | shared] block, dcat (B, (K + K_s)*H), of stream s.
    auto scatter_stream = [&](ConstMatView dcat, int s) {
      for (int g = 0; g < groups_; ++g) {
        const RowRange r = GroupRows(batch.domain_begin, g);
        if (GroupStream(g) != s || r.size() == 0) continue;
        AddMat(dcat.Rows(r.begin, r.size()).Cols(0, own),
               level.dspecific[g].view().Rows(0, r.size()));
      }
      if (shared_ > 0) AddMat(dcat.Cols(own, shared_ * h), level.dshared.view());
    };
    const int mixed = per_group_ + shared_;
    for (int s = 0; s < streams_; ++s) {
      level.dcat.ResizeLike(level.cat[s]);
      level.dprobs.Resize({rows, mixed});
      GatedMixBackward(level.cat[s].view(), level.probs[s], level.dout.view().Cols(s * h, h), mixed,
                       level.dcat.view(), level.dprobs.view());
      level.gates[s].Backward(stream_in(s), batch.domain_begin, level.dprobs.view(), in.streams[s],
                              1.0f, &level.gate_cache[s]);
      scatter_stream(level.dcat.view(), s);
    }
    if (level.has_shared_gate) {
      const ConstMatView all = AllExperts(level);
      const int experts = static_cast<int>(all.cols / h);
      level.dcat_all.Resize({rows, all.cols});
      level.dprobs.Resize({rows, experts});
      GatedMixBackward(all, level.shared_probs, level.dshared_mix.view(), experts,
                       level.dcat_all.view(), level.dprobs.view());
      level.shared_gate.Backward(shared_in, batch.domain_begin, level.dprobs.view(), in.shared,
                                 1.0f, &level.shared_gate_cache);
      if (per_domain_groups_) {
        scatter_stream(level.dcat_all.view(), 0);
      } else {
        for (int g = 0; g < groups_; ++g)
          AddMat(level.dcat_all.view().Cols(g * own, own), level.dspecific[g].view());
        AddMat(level.dcat_all.view().Cols(groups_ * own, shared_ * h), level.dshared.view());
      }
    }
    for (int g = 0; g < groups_; ++g) {
      const RowRange r = GroupRows(batch.domain_begin, g);
      if (r.size() == 0) continue;
      const int s = GroupStream(g);
      const MatView din =
          in.streams[s].data == nullptr ? MatView{} : in.streams[s].Rows(r.begin, r.size());
      level.specific[g].Backward(stream_in(s).Rows(r.begin, r.size()),
                                 level.dspecific[g].view().Rows(0, r.size()), din, 1.0f,
                                 &level.specific_cache[g]);
    }
    if (shared_ > 0) {
      level.shared.Backward(shared_in, level.dshared.view(), in.shared, 1.0f, &level.shared_cache);
    }
  }
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<std::pair<std::string, double>> PleModel::Stats() const {
  std::vector<std::pair<std::string, double>> out =
      ExpertLoadStats(levels_.back().probs, per_group_ + shared_);
  // Task t reads stream t, or the one stream (groups BY_DOMAIN).
  for (auto& load : DomainTaskLoadStats(levels_.back().probs, domain_begin_, shape_.num_tasks)) {
    out.push_back(std::move(load));
  }
  return out;
}

}  // namespace moerec
