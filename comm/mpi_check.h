// Checking MPI calls: MPI_RETURN_IF_ERROR turns a failed call into a Status carrying the call,
// MPI's own error text, and the file and line (communicators are set to MPI_ERRORS_RETURN, so
// errors come back instead of aborting the job). MPI_LOG_IF_ERROR is for the calls whose
// failure has nowhere to go (destructors, teardown, the final abort): it logs the same text.
// Every MPI call of moerec goes through one of the two.
#ifndef MOEREC_COMM_MPI_CHECK_H_
#define MOEREC_COMM_MPI_CHECK_H_

#include <glog/logging.h>
#include <mpi.h>

#include <string>

#include "core/status.h"

namespace moerec {

inline Status MpiError(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return Unavailable(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                     std::string(text, len));
}

}  // namespace moerec

#define MPI_RETURN_IF_ERROR(call)                                           \
  do {                                                                      \
    const int moerec_mpi_rc_ = (call);                                      \
    if (moerec_mpi_rc_ != MPI_SUCCESS) {                                    \
      return ::moerec::MpiError(moerec_mpi_rc_, #call, __FILE__, __LINE__); \
    }                                                                       \
  } while (0)

#define MPI_LOG_IF_ERROR(call)                                                                  \
  do {                                                                                          \
    const int moerec_mpi_rc_ = (call);                                                          \
    if (moerec_mpi_rc_ != MPI_SUCCESS) {                                                        \
      LOG(WARNING) << ::moerec::MpiError(moerec_mpi_rc_, #call, __FILE__, __LINE__).ToString(); \
    }                                                                                           \
  } while (0)

#endif  // MOEREC_COMM_MPI_CHECK_H_
