// Messenger: point-to-point messages between the ranks of one group, for the services that
// answer requests rather than join collectives (the teacher ranks of distillation). A message is
// a byte string with a tag; Receive takes the next message with `tag` from one rank or from any.
// MPI backend: MpiMessenger, over its own duplicate of an MPI communicator (so its messages
// never meet another protocol's). Messages between one pair of ranks with one tag arrive in the
// order they were sent.
// Thread-safety: one thread per messenger at a time.
#ifndef MOEREC_COMM_MESSENGER_H_
#define MOEREC_COMM_MESSENGER_H_

#include <mpi.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace moerec {

class Messenger {
 public:
  static constexpr int kAnySource = -1;
  virtual ~Messenger() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Returns once the bytes are handed to the transport (the peer need not have received them).
  virtual Status Send(int dest, int tag, std::string_view bytes) = 0;
  // Waits for the next message with `tag` from `source` (or kAnySource); *from = its sender.
  virtual Status Receive(int source, int tag, std::string* bytes, int* from) = 0;
};

class MpiMessenger : public Messenger {
 public:
  // Duplicates `comm` (collective over it); ranks are comm's.
  static StatusOr<std::unique_ptr<MpiMessenger>> Create(MPI_Comm comm);
  ~MpiMessenger() override;
  MpiMessenger(const MpiMessenger&) = delete;
  MpiMessenger& operator=(const MpiMessenger&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status Send(int dest, int tag, std::string_view bytes) override;
  Status Receive(int source, int tag, std::string* bytes, int* from) override;

 private:
  MpiMessenger(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  MPI_Comm comm_;
  int rank_, size_;
};

}  // namespace moerec

#endif  // MOEREC_COMM_MESSENGER_H_
