// The `moerec` subcommands. Each parses its own flags (gflags, defined in its .cc file: flags
// live only in launch/) and returns the process exit status: 0 on success, 1 when the work
// failed in a way a restart may cure (a peer gone, an I/O error), kExitNoRestart when it
// cannot (bad config or data, damaged checkpoints, the run folder in use, a disk full, not
// memory enough), 2 on bad usage. launch/moerec-launch restarts only after status 1.
#ifndef MOEREC_LAUNCH_COMMANDS_H_
#define MOEREC_LAUNCH_COMMANDS_H_

#include <string>

#include "core/status.h"
#include "serving/item_index.h"

namespace moerec {

// Initialises MPI when started by mpirun / srun (argc, argv go to MPI_Init).
int TrainCommand(int* argc, char*** argv);
int GenCommand();
int ConvertCommand();
int BenchCommand(const std::string& name);
// serving/: an item index from an item embedding file; the top-K items of every user.
int IndexCommand();
// A trained matching model's embeddings, its item index and the index's recall.
int ExportCommand();
// The item index options of the --index_kind, --nlist, --pq_m, --pq_bits, --nprobe and
// --train_sample flags (index and export).
StatusOr<ItemIndexOptions> ItemIndexOptionsFromFlags();
int RetrieveCommand();
int InfoCommand();
// argv[1..argc) are the run folders.
int ReportCommand(int argc, char** argv);
// A saved model (a checkpoint folder): its metrics on a split; its predictions for shards.
int EvalCommand();
int PredictCommand();

inline constexpr int kExitNoRestart = 78;

// The exit status for a failed run's Status (0 when OK).
int ExitCodeFor(const Status& status);

// Prints "moerec <command>: <status>" to stderr and returns ExitCodeFor(status).
int ReportStatus(const std::string& command, const Status& status);

}  // namespace moerec

#endif  // MOEREC_LAUNCH_COMMANDS_H_
