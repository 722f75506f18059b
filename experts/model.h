// Model: the dense part of a recommendation model, from pooled features to per-task logits.
// Every model of the zoo (experts/zoo/) implements it; the trainer (worker/) drives it.
//
// Sizes: B samples, F feature columns (pooled slot embeddings, then dense features), D domains
// (scenarios), T tasks.
//
// A step is Forward then Backward on the same ModelBatch. The batch's samples are sorted by
// domain (the trainer guarantees it; SortBatchByDomain in data), so everything indexed
// by domain (towers, gates, STAR weights, per-domain batch norm) works on the contiguous row
// block [domain_begin[d], domain_begin[d + 1]) with plain GEMMs on views.
//
// Memory: a model owns its parameters (params()) and its activations (Tensor members reused
// across steps, so a step allocates only when the batch grows). ModelBatch views are the
// caller's and must stay valid from Forward through Backward.
// Gradient rule: Backward accumulates parameter gradients (+=); the caller zeroes them between
// steps. It writes (=) dfeatures.
// Thread-safety: none; one thread drives a model. Ops inside use the compute thread pool.
#ifndef MOEREC_EXPERTS_MODEL_H_
#define MOEREC_EXPERTS_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "core/parameter.h"
#include "core/status.h"
#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

struct ModelBatch {
  int64_t size = 0;                   // B
  ConstMatView features;              // (B, F)
  const int32_t* domain = nullptr;    // (B) in [0, D), non-decreasing
  std::vector<int64_t> domain_begin;  // (D + 1); domain_begin[0] = 0, domain_begin[D] = B
  bool training = true;               // dropout on, batch-norm statistics from the batch
  uint64_t seed = 0;                  // dropout seed for this step; same seed, same mask
  // Matching models (MatchingModel) in training: the labels (B, T) and their mask, and each
  // sample's item key (the first id of MatchingModel::key_slot(), 0 when the slot is empty).
  const float* labels = nullptr;
  const uint8_t* label_mask = nullptr;
  const uint64_t* keys = nullptr;

  int64_t domain_rows(int d) const { return domain_begin[d + 1] - domain_begin[d]; }
};

// What a model is built for: the widths and counts that the data and the tables fix.
// The F feature columns are [slot 0 | slot 1 | ... | slot S-1 | dense]
// (embedding/sparse_input.h): slot s's pooled embedding is slot_dims[s] wide, in data.slots
// order, and the num_dense dense features come last, so sum(slot_dims) + num_dense = F. A shape
// that knows only F leaves slot_dims empty: models that read the features as one vector work on
// it, the field-wise layers of the CTR backbones refuse it.
struct ModelShape {
  int num_features = 0;                      // F
  int num_domains = 1;                       // D
  int num_tasks = 1;                         // T
  std::vector<int> slot_dims = {};           // (S) in column order; empty: unknown
  std::vector<std::string> slot_names = {};  // (S) data.slots names for messages, or empty
  std::vector<Side> slot_sides = {};         // (S) data.slots sides, or empty (all user)
  // The last num_teacher_slots of the S slots are a distillation teacher's views of the data
  // slots (embedding/sparse_input.h), in data.slots order.
  int num_teacher_slots = 0;
  int num_dense = 0;  // with slot_dims only

  int num_slots() const { return static_cast<int>(slot_dims.size()); }
  // "slot 'user_id'", or "slot 3" without names.
  std::string SlotLabel(int s) const;
};

// One phase of a model trained in phases (MoE-MLoRA: the backbone, each expert alone, the
// gate). The trainer runs the phases in order, each with its own epochs and early stopping.
struct ModelPhase {
  std::string name;  // "backbone", "expert.<m>", "gate"; in metrics.jsonl
  int domain = -1;   // train on this domain's samples only (full batches); -1 = every domain
  bool single_domain_batches = false;  // every batch holds one domain (data/domain_batcher.h)
  bool train_rows = true;              // the embedding rows are updated
  int epochs = 1;                      // >= 1
  int early_stop_patience = 0;
  // The dense parameters this phase updates; every other one is frozen.
  std::function<bool(const Parameter&)> trains;
};

class MatchingModel;

class Model {
 public:
  virtual ~Model() = default;

  // logits: (B, T), written.
  virtual void Forward(const ModelBatch& batch, MatView logits) = 0;
  // dlogits: (B, T). dfeatures: (B, F), written; pass a view with null data when the features
  // need no gradient.
  virtual void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) = 0;

  // Auxiliary loss of the last Forward (load balance and the like), already weighted by its
  // coefficient; Backward adds its gradient. 0 for models without one.
  virtual double AuxLoss() const { return 0.0; }

  // Named scalar statistics of the last Forward (expert load CV, active experts, ...), for
  // logs and metrics. Empty by default.
  virtual std::vector<std::pair<std::string, double>> Stats() const { return {}; }

  // The phases of a model trained in phases, in order; empty (the default) = one phase under
  // the train config's budget. EnterPhase(p) switches the model's computation to phase p (the
  // trainer also freezes the parameters phase p does not train).
  virtual std::vector<ModelPhase> Phases() const { return {}; }
  virtual void EnterPhase(int phase) { (void)phase; }

  // Whether Forward (and Backward) in this mode are collective over the workers (expert
  // dispatch, global statistics): then every worker calls them once per step, with an empty
  // batch when it has no rows.
  virtual bool Collective(bool training) const {
    (void)training;
    return false;
  }

  // The matching side of a two-tower model; null for ranking models.
  virtual MatchingModel* matching() { return nullptr; }

  const ModelShape& shape() const { return shape_; }
  ParameterSet* params() { return &params_; }
  const ParameterSet& params() const { return params_; }

 protected:
  explicit Model(const ModelShape& shape) : shape_(shape) {}

  const ModelShape shape_;
  ParameterSet params_;
};

// Matching models (experts/zoo/two_tower.h): a user tower and an item tower whose inner product
// scores a (user, item) pair. Their Forward gives each sample's own pair score as its one
// logit, so ranking metrics still apply to labelled pairs; training goes through TrainingLoss,
// retrieval through the towers alone.
class MatchingModel {
 public:
  virtual ~MatchingModel() = default;

  virtual int64_t embedding_dim() const = 0;  // d, both towers' output width
  // The data slot whose first id is a sample's item key (ModelBatch::keys).
  virtual int key_slot() const = 0;

  // One training step's forward and loss: both towers, then the loss over the step's
  // candidates (the batch's items, or every worker's when they are gathered), needing
  // batch.labels, label_mask and keys. Collective over the workers whenever there are several
  // (candidates, item counts and the global number of positives are exchanged): every worker
  // calls it once per step, with an empty batch when it has none. Returns this worker's share
  // of the global loss; the following Backward(batch, {}, dfeatures) ignores dlogits and
  // back-propagates this loss.
  virtual StatusOr<double> TrainingLoss(const ModelBatch& batch) = 0;

  // Evaluation mode: the user tower's embeddings of the batch's rows (their user and context
  // slots, dense features, scenario), and the item tower's (their item slots). out: (B, d).
  virtual void EncodeUsers(const ModelBatch& batch, MatView out) = 0;
  virtual void EncodeItems(const ModelBatch& batch, MatView out) = 0;
};

// What a model is built for beyond its shape: the cluster it runs in. `workers` is the workers'
// communicator (borrowed; null = one process), the one expert-parallel layers dispatch over and
// global statistics (SMES's load balance) are all-reduced on. The compute resources are the
// process's thread pool (core/parallel.h) on CPU workers; GPU workers add their resources here.
// A distillation teacher that runs elsewhere (DistillConfig TEACHER_RANKS: dedicated ranks).
// Start hands over the teacher's input rows of a step's (user, candidate) pairs, (N, F) with
// their domains (non-decreasing), and returns without waiting; Finish waits for the N logits.
// One request at a time; the student computes in between (the overlap).
class TeacherScorer {
 public:
  virtual ~TeacherScorer() = default;
  virtual Status Start(ConstMatView features, const int32_t* domains) = 0;
  virtual Status Finish(MatView logits) = 0;
};

struct ModelContext {
  Communicator* workers = nullptr;
  // GPU workers: the same workers over a transport whose collectives take device buffers (NCCL;
  // comm/nccl_communicator.h), for the expert dispatch's rows; null otherwise.
  Communicator* device_workers = nullptr;
  // The remote teacher of a distilled two-tower model with TEACHER_RANKS; null otherwise.
  TeacherScorer* teacher = nullptr;
  int rank() const { return workers == nullptr ? 0 : workers->rank(); }
  int num_workers() const { return workers == nullptr ? 1 : workers->size(); }
};

// Architecture parameters are named "arch.*" (M3oE's fusion scalars): TrainConfig.architecture
// says which optimizer, if any, updates them.
inline bool IsArchitectureParameter(const Parameter& p) { return p.name.rfind("arch.", 0) == 0; }

// The checks CreateModel runs before it builds anything (fields named as in the job config).
Status ValidateModelConfig(const ModelConfig& config, const ModelShape& shape);

// Builds the model that `config` names. InvalidArgument naming the field when the config does
// not fit the shape (a head indexed by domain with one domain is fine; an empty MLP is not).
// Parameters are initialised from `seed` only, so the same seed gives the same model (and an
// expert the same values wherever it is placed).
StatusOr<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const ModelShape& shape,
                                             uint64_t seed, const ModelContext& context = {});

// What a model of `config` takes before it is built: its parameter values and the floats of
// activations and their gradients it keeps per sample of a training batch (an upper bound:
// every buffer a layer may use). The config must be valid (CreateModel's checks); the job's
// loader compares this with the memory there is before anything is allocated.
struct ModelSize {
  int64_t parameters = 0;
  int64_t activations_per_sample = 0;
};
ModelSize EstimateModelSize(const ModelConfig& config, const ModelShape& shape);

// For implementations: CHECKs that `batch` fits `shape` (features (B, F), domain_begin (D + 1)
// non-decreasing from 0 to B) and that the logits or dlogits view is (B, T). A batch that does
// not fit is a bug of the caller (the trainer builds batches from validated data).
void CheckModelBatch(const ModelBatch& batch, const ModelShape& shape, int64_t out_rows,
                     int64_t out_cols);

}  // namespace moerec

#endif  // MOEREC_EXPERTS_MODEL_H_
