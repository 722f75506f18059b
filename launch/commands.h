// The `moerec` subcommands. Each parses its own flags (gflags, defined in its .cc file: flags
// live only in launch/) and returns the process exit status: 0 on success, 1 when the work
// failed (the Status is printed), 2 on bad usage.
#ifndef MOEREC_LAUNCH_COMMANDS_H_
#define MOEREC_LAUNCH_COMMANDS_H_

#include <string>

#include "core/status.h"

namespace moerec {

// Initialises MPI when started by mpirun / srun (argc, argv go to MPI_Init).
int TrainCommand(int* argc, char*** argv);
int GenCommand();
int ConvertCommand();
int BenchCommand(const std::string& name);
int InfoCommand();

// Prints "moerec <command>: <status>" to stderr and returns 1 (0 when OK).
int ReportStatus(const std::string& command, const Status& status);

}  // namespace moerec

#endif  // MOEREC_LAUNCH_COMMANDS_H_
