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
// their logits; a request (tag kTeacherRequestTag) is, little-endian,
//   "MRTQ" | u32 version (1) | i64 pairs | i64 width | f32 features[pairs * width]
//   | i32 domains[pairs] | u32 CRC-32 of everything before it
// with pairs = -1 (and nothing between the header and the CRC) when the worker is done; the
// answer (tag kTeacherReplyTag) is
//   "MRTA" | u32 status code (0 = OK) | i64 n | f32 logits[n], or n bytes of error text
//   | u32 CRC-32
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
#include "core/parameter.h"
#include "core/status.h"
#include "core/tensor.h"
#include "embedding/embedding_store.h"
#include "experts/model.h"
#include "proto/config.pb.h"

namespace moerec {

inline constexpr int kTeacherRequestTag = 4101;
inline constexpr int kTeacherReplyTag = 4102;

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

// A teacher request, decoded (features is (pairs, width); pairs < 0: the worker is done).
struct TeacherRequest {
  int64_t pairs = 0;
  int64_t width = 0;
  std::vector<float> features;
  std::vector<int32_t> domains;
};
std::string EncodeTeacherRequest(ConstMatView features, const int32_t* domains);
std::string EncodeTeacherDone();
// InvalidArgument / Corruption naming what is wrong: magic, version, sizes, CRC, a width other
// than `width`, a domain outside [0, num_domains) or out of order.
Status DecodeTeacherRequest(std::string_view bytes, int64_t width, int num_domains,
                            TeacherRequest* out);
std::string EncodeTeacherReply(const Status& status, const float* logits, int64_t n);
// The reply's status (the teacher's error, with "teacher rank r: "), or its n = expected logits.
Status DecodeTeacherReply(std::string_view bytes, int64_t expected, float* logits);

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
