// Towers: the task heads that turn per-row representations into the model's (B, T) logits.
// A tower is an Mlp of hidden layers (the tower MlpConfig; its dims may be empty) followed by
// a final Linear with no activation. Towers come in heads selected by a HeadIndex
// (experts/layers/heads.h):
//   BY_TASK         tower t: 1 output, task t's logit, on every row;
//   BY_DOMAIN       tower d: T outputs, output t = task t's logit, on the rows of domain d
//                   (its hidden layers are shared by the domain's tasks);
//   BY_DOMAIN_TASK  tower (d, t): 1 output, task t's logit, on the rows of domain d.
// Input streams: the input has S = 1 stream (one representation per row, shared by all
// tasks: Shared-Bottom, or MMoE with gates BY_DOMAIN) or S = T streams (task t reads stream
// t: MMoE with per-task gates). With S = T a BY_DOMAIN tower is applied to each task's stream
// and task t reads its output t.
//
// Dimension legend: B rows, H stream width, S streams, T tasks, D domains.
//   z, dz: (B, S*H), block s = stream s   logits, dlogits: (B, T), pre-sigmoid
// Parameters: "<name>.<head>.hidden.*" (see mlp.h) and "<name>.<head>.out.{w,b}".
// Dropout seeds: each application of a tower gets its own masks.
// Threads: on a large enough batch the applications run side by side, one thread each
// (backward too when they share no parameters and no dz block).
// Gradient rule: parameter gradients accumulate; dz is written.
// Thread-safety: none.
#ifndef MOEREC_EXPERTS_LAYERS_TOWERS_H_
#define MOEREC_EXPERTS_LAYERS_TOWERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "experts/layers/linear.h"
#include "experts/layers/mlp.h"
#include "proto/config.pb.h"

namespace moerec {

class Towers {
 public:
  Towers() = default;
  Towers(const MlpConfig& hidden, HeadIndex index, int num_domains, int num_tasks,
         int64_t input_dim, int streams, const std::string& name, ParameterSet* params,
         uint64_t seed);

  int num_heads() const { return static_cast<int>(heads_.size()); }

  // logits: (B, T), written. domain_begin: (D + 1).
  void Forward(ConstMatView z, const std::vector<int64_t>& domain_begin, bool training,
               uint64_t seed, MatView logits);
  // z: Forward's input. dz: (B, S*H), written.
  void Backward(ConstMatView z, const std::vector<int64_t>& domain_begin, ConstMatView dlogits,
                MatView dz);

 private:
  struct Head {
    Mlp hidden;
    Linear out;
  };
  // One application of a head to one stream on one row block.
  struct Job {
    int head = 0;
    int stream = 0;
    int domain = -1;     // -1: every row
    int task_begin = 0;  // logits columns [task_begin, task_begin + tasks)
    int tasks = 1;
    int64_t out_col = 0;       // first output of the head's final Linear that is read
    bool first_writer = true;  // first job writing its (stream, rows) block of dz
    MlpCache cache;
    ConstMatView hidden;  // the hidden layers' output, from Forward
    Tensor dhidden;       // (rows, hidden width)
  };

  // Runs fn(job index) for every job: job-parallel when `parallel` and the batch is large
  // enough, else in order.
  template <typename Fn>
  void ForJobs(bool parallel, int64_t rows, Fn fn);

  int64_t input_dim_ = 0;
  std::vector<Head> heads_;
  std::vector<Job> jobs_;
  // Jobs touch disjoint parameters and dz blocks, so their backward passes may run at once.
  bool independent_backward_ = false;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_TOWERS_H_
