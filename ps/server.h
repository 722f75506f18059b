// PsServer: the request loop of one parameter-server rank. It owns the shard's RowStore and
// serves the workers' pulls and pushes over MPI, one request at a time on one thread, under
// the job's sync mode (ps/step_clock.h): in BSP a pull waits until the previous step's
// pushes from every worker are applied, and a step's pushes are summed per key in worker order
// and applied once. Collective requests (snapshot, checkpoint, restore, shutdown) act when
// every worker has sent them, then all are answered.
//
// Every request is validated (ps/wire.h) and checked against its sender: a bad message is
// answered with an error and nothing changes; the loop never crashes on input.
// Run returns when every worker has sent PS_SHUTDOWN, or on an MPI failure.
// Thread-safety: Run is called once, from one thread.
#ifndef MOEREC_PS_SERVER_H_
#define MOEREC_PS_SERVER_H_

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/key_index.h"
#include "core/status.h"
#include "embedding/table_spec.h"
#include "proto/wire.pb.h"
#include "ps/row_store.h"
#include "ps/step_clock.h"
#include "ps/wire.h"

namespace moerec {

class PsServer {
 public:
  struct Options {
    int server_index = 0;
    int num_servers = 1;
    std::vector<int> worker_ranks;  // ranks on `comm` of workers 0..W-1
    ClusterConfig::SyncMode sync = ClusterConfig::BSP;
    int staleness = 0;
    int64_t evict_every_steps = 0;  // eviction sweep period (ServerConfig); 0 = never
  };

  static StatusOr<std::unique_ptr<PsServer>> Create(std::unique_ptr<RowStore> store,
                                                    const Options& options, MPI_Comm comm);
  ~PsServer();

  Status Run();

  RowStore* store() { return store_.get(); }

 private:
  struct Incoming {
    int source = 0;  // rank on comm_
    int worker = 0;
    std::vector<uint64_t> buffer;  // the frame, 8-byte aligned
    size_t bytes = 0;
    PsRequest request;
    std::vector<SliceView> slices;
  };
  struct Outgoing {
    std::string frame;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  // Per-table sum of one BSP step's gradients.
  struct StepSum {
    KeyIndex index;
    std::vector<uint64_t> keys;
    std::vector<float> grads;
  };

  PsServer(std::unique_ptr<RowStore> store, const Options& options, MPI_Comm comm);

  Status Receive(int source, int bytes, std::unique_ptr<Incoming>* in);
  // Validates and dispatches one message.
  Status Handle(std::unique_ptr<Incoming> in);
  Status ServePull(const Incoming& in);
  Status ApplyPushes(std::vector<std::unique_ptr<Incoming>> pushes, int64_t step);
  Status ServeCollective(PsOp op);
  // Applies complete BSP steps, then serves deferred pulls and collectives that became ready.
  Status Advance();
  Status Reply(int source, PsReply* reply, const std::vector<SliceView>& slices);
  Status ReplyError(int source, uint64_t request_id, const Status& status);
  Status ReplyOk(int source, uint64_t request_id);
  // Frees the reply buffers whose sends completed (all of them, waiting, with wait_all).
  Status ReapSends(bool wait_all);

  std::unique_ptr<RowStore> store_;
  const Options options_;
  MPI_Comm comm_;
  std::vector<TableShape> shapes_;
  std::vector<int> worker_of_rank_;  // rank on comm_ -> worker index or -1
  StepClock clock_;

  std::deque<std::unique_ptr<Incoming>> deferred_pulls_;
  std::map<int64_t, std::vector<std::unique_ptr<Incoming>>> pending_pushes_;  // BSP, by step
  std::vector<std::unique_ptr<Incoming>> collective_;  // requests of the collective in progress
  std::vector<StepSum> sums_;
  std::vector<float> pull_buffer_;
  std::deque<Outgoing> sends_;
  int shutdown_requests_ = 0;
  int64_t last_sweep_ = 0;  // step of the last eviction sweep
  bool done_ = false;
};

}  // namespace moerec

#endif  // MOEREC_PS_SERVER_H_
