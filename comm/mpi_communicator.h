// MpiCommunicator: the Communicator over an MPI communicator (CPU workers). It does not own
// the MPI communicator unless told to (then it frees it). Create sets MPI_ERRORS_RETURN on it.
// Errors come back as a Status naming the MPI call (the communicator is set to MPI_ERRORS_RETURN).
// MPI counts and displacements are ints: an AllToAll count, or an AllToAllV block ending, past
// INT_MAX elements is InvalidArgument. AllToAllV checks its counts with an MPI_Alltoall of the
// send counts and an MPI_Allreduce of a flag before the MPI_Alltoallv.
// MpiSession: MPI_Init_thread(MPI_THREAD_MULTIPLE) for the process's lifetime; refuses an MPI
// library that cannot give MPI_THREAD_MULTIPLE.
// Thread-safety: as Communicator (one thread per communicator at a time).
#ifndef MOEREC_COMM_MPI_COMMUNICATOR_H_
#define MOEREC_COMM_MPI_COMMUNICATOR_H_

#include <mpi.h>

#include <memory>

#include "comm/communicator.h"

namespace moerec {

class MpiSession {
 public:
  static StatusOr<std::unique_ptr<MpiSession>> Init(int* argc, char*** argv);
  ~MpiSession();  // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const { return rank_; }
  int world_size() const { return size_; }

  // True when this process was started by mpirun / srun (so MPI should be initialised).
  static bool LaunchedByMpi();

 private:
  MpiSession(int rank, int size) : rank_(rank), size_(size) {}
  int rank_;
  int size_;
};

class MpiCommunicator : public Communicator {
 public:
  static StatusOr<std::unique_ptr<MpiCommunicator>> Create(MPI_Comm comm, bool owned);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(float* data, int64_t n) override;
  Status AllReduceSum(double* data, int64_t n) override;
  Status AllReduceMax(double* data, int64_t n) override;
  Status AllGather(const std::string& mine, std::vector<std::string>* all) override;
  Status Broadcast(void* data, int64_t bytes, int root) override;
  Status Barrier() override;
  Status ExchangeCounts(const std::vector<int64_t>& send_counts,
                        std::vector<int64_t>* recv_counts) override;
  Status AllToAll(const float* send, float* recv, int64_t count) override;
  Status AllToAll(const int32_t* send, int32_t* recv, int64_t count) override;
  Status AllToAll(const int64_t* send, int64_t* recv, int64_t count) override;
  Status AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, float* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;
  Status AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, int32_t* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;
  Status AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, int64_t* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;

  MPI_Comm comm() const { return comm_; }

 private:
  MpiCommunicator(MPI_Comm comm, bool owned, int rank, int size)
      : comm_(comm), owned_(owned), rank_(rank), size_(size) {}
  Status AllReduce(void* data, int64_t n, MPI_Datatype type, MPI_Op op);
  // The all-to-alls of every element type, `type` naming it.
  Status AllToAllOf(const void* send, void* recv, int64_t count, MPI_Datatype type);
  Status AllToAllVOf(const void* send, const std::vector<int64_t>& send_counts,
                     const std::vector<int64_t>& send_displs, void* recv,
                     const std::vector<int64_t>& recv_counts,
                     const std::vector<int64_t>& recv_displs, MPI_Datatype type);
  // Sends counts[r] to rank r, or -1 to every rank when counts is null (this rank's arguments
  // are bad); on return (*received)[r] is what rank r sent.
  Status SwapCounts(const std::vector<int64_t>* counts, std::vector<int64_t>* received);

  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace moerec

#endif  // MOEREC_COMM_MPI_COMMUNICATOR_H_
