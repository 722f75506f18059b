// Distillation teachers trained by their own job (DistillConfig OFFLINE), and the teacher ranks
// that serve one (placement TEACHER_RANKS). docs/models.md#dsmoe has the user's view.
//
// A teacher's state is its job's final checkpoint (JobCheckpointer::FindFinalState of
// distill.teacher_run_dir). At the student's fresh start its dense parameters become the
// student's "teacher.*" (ON_WORKERS; the teacher ranks load them into their own model instead)
// and the rows of its tables are copied into the student's "<table_prefix><table>" tables on the
// student's servers; a resume finds both in the student's own checkpoints. Nothing of an
// offline teacher is trained: its parameters are fixed and its tables' rows are never pushed.
//
// Teacher ranks. Student worker w sends each step's pairs to teacher rank w mod T and receives
// their logits (the messages: comm/teacher_wire.h).
// A teacher rank returns once every worker it serves is done.
// Thread-safety: none (one thread per object).
#ifndef MOEREC_WORKER_TEACHER_H_
#define MOEREC_WORKER_TEACHER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.h"
#include "comm/messenger.h"
#include "comm/teacher_wire.h"
#include "core/parameter.h"
#include "core/status.h"
#include "core/tensor.h"
#include "embedding/embedding_store.h"
#include "experts/model.h"
#include "proto/config.pb.h"

namespace moerec {

// Whether the job distils from a teacher trained by another job.
bool HasOfflineTeacher(const JobConfig& config);

// The student's tables that hold the teacher's rows, as (teacher's table, student's table).
TableRenames TeacherTableRenames(const JobConfig& config);

// The student's fresh start with an offline teacher: finds the teacher's checkpoint, loads its
// dense parameters into `params` as "teacher.*" (when params is not null: ON_WORKERS) and its
// rows into the teacher tables of `store`. Sets *checkpoint to the path it used. Errors name the
// teacher's run folder or checkpoint and what does not fit. Collective over the workers.
Status ImportTeacher(const JobConfig& config, Communicator* workers, ParameterSet* params,
                     EmbeddingStore* store, std::string* checkpoint);

// A worker's end of its teacher rank.
class RemoteTeacher : public TeacherScorer {
 public:
  // `messenger` spans the workers and the teacher ranks (world ranks); `teacher_rank` in it.
  RemoteTeacher(Messenger* messenger, int teacher_rank)
      : messenger_(messenger), teacher_rank_(teacher_rank) {}
  Status Start(ConstMatView features, const int32_t* domains) override;
  Status Finish(MatView logits) override;
  // Tells the teacher rank that this worker is done.
  Status Done();

 private:
  Messenger* const messenger_;
  const int teacher_rank_;
  int64_t pending_ = -1;  // pairs of the request out, or -1
  std::string reply_;
};

// A teacher rank: builds the teacher of `config` (its shape from the student's), loads it from
// the teacher's checkpoint, and answers the requests of the `clients` (ranks of `messenger`)
// until each of them is done.
Status ServeTeacher(const JobConfig& config, Messenger* messenger, const std::vector<int>& clients);

}  // namespace moerec

#endif  // MOEREC_WORKER_TEACHER_H_
