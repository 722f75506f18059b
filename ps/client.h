// PsClient: the worker's EmbeddingStore over the parameter servers (ps-lite's KVWorker role).
//
// Pull and Push route each key to its shard with ShardOf(table, key, P) and send ONE message
// per server holding every table's keys (and gradients), then return a ticket at once; Wait
// receives the replies, validates them (ps/wire.h) and scatters pulled rows back into the
// caller's request buffers in the caller's key order. The caller's TableRequests must stay
// alive and unchanged until Wait (keys are copied into the messages at Pull/Push time, so only
// the pull's value buffers are written later).
// Snapshot, checkpoint and shutdown are collective over the workers: every worker calls them
// (the servers act once all have asked).
// Thread-safety: one thread uses a client at a time (MPI_THREAD_MULTIPLE lets other threads
// use other communicators meanwhile).
#ifndef MOEREC_PS_CLIENT_H_
#define MOEREC_PS_CLIENT_H_

#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "embedding/embedding_store.h"
#include "embedding/table_spec.h"
#include "proto/wire.pb.h"
#include "ps/wire.h"

namespace moerec {

class PsClient : public EmbeddingStore {
 public:
  struct Options {
    int worker_index = 0;
    std::vector<int> server_ranks;  // ranks on the communicator of servers 0..P-1
  };

  static StatusOr<std::unique_ptr<PsClient>> Create(std::vector<TableSpec> tables,
                                                    const Options& options, MPI_Comm comm);
  ~PsClient() override;

  Ticket Pull(std::vector<TableRequest>* requests, int64_t step, bool training) override;
  Ticket Push(const std::vector<TableRequest>* requests, int64_t step) override;
  Status Wait(Ticket ticket) override;
  Status SaveSnapshot() override;
  Status RestoreSnapshot() override;
  Status Checkpoint(const std::string& dir, int64_t step, bool incremental) override;
  Status Restore(const std::string& dir, int64_t step) override;
  Status ImportTables(const std::string& dir, const TableRenames& renames) override;

  // Collective: every server exits its loop once every worker has asked.
  Status Shutdown(int64_t step);
  // Per-table statistics of server `server`.
  StatusOr<PsReply> ServerStats(int server);
  // Every server's, summed per table; Corruption when a server's reply names no table of the
  // job.
  StatusOr<StoreStats> Stats() override;

  int num_servers() const { return static_cast<int>(options_.server_ranks.size()); }
  int64_t wire_bytes() const override { return bytes_sent_ + bytes_received_; }
  int64_t bytes_sent() const { return bytes_sent_; }
  int64_t bytes_received() const { return bytes_received_; }

 private:
  // One message to one server.
  struct Exchange {
    int server = 0;
    uint64_t request_id = 0;
    std::string frame;
    MPI_Request send = MPI_REQUEST_NULL;
    std::vector<SliceView> slices;                 // what a pull asked for (keys point into `keys`)
    std::vector<std::vector<uint64_t>> keys;       // per slice
    std::vector<std::vector<uint32_t>> positions;  // per slice: index in its TableRequest
    std::vector<int> request_of_slice;             // per slice: index into the caller's vector
  };
  struct Pending {
    Status status;  // an error found before sending
    std::vector<TableRequest>* pull_target = nullptr;
    std::vector<std::unique_ptr<Exchange>> exchanges;
  };

  PsClient(std::vector<TableSpec> tables, const Options& options, MPI_Comm comm);
  Ticket Start(PsOp op, const std::vector<TableRequest>* requests, int64_t step,
               std::vector<TableRequest>* pull_target, const PsRequest* fields = nullptr);
  // `fields`: the request's other header fields (path, incremental, import tables).
  Status Collective(PsOp op, int64_t step, const PsRequest* fields = nullptr);
  Status Finish(Exchange* ex, std::vector<TableRequest>* pull_target, PsReply* reply);

  const std::vector<TableSpec> tables_;
  const Options options_;
  MPI_Comm comm_;
  uint64_t next_request_id_ = 1;
  Ticket next_ticket_ = 1;
  std::map<Ticket, Pending> pending_;
  std::vector<uint64_t> reply_buffer_;
  int64_t bytes_sent_ = 0;
  int64_t bytes_received_ = 0;
  int64_t last_step_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_PS_CLIENT_H_
