#include "ps/server.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "comm/mpi_check.h"

namespace moerec {

PsServer::PsServer(std::unique_ptr<RowStore> store, const Options& options, MPI_Comm comm)
    : store_(std::move(store)),
      options_(options),
      comm_(comm),
      clock_(options.sync, static_cast<int>(options.worker_ranks.size()), options.staleness) {}

PsServer::~PsServer() {
  // Run() normally leaves nothing in flight; after a failed Run the error is already out.
  ReapSends(true).IgnoreError();
}

StatusOr<std::unique_ptr<PsServer>> PsServer::Create(std::unique_ptr<RowStore> store,
                                                     const Options& options, MPI_Comm comm) {
  if (options.worker_ranks.empty()) return InvalidArgument("a server needs at least one worker");
  std::unique_ptr<PsServer> server(new PsServer(std::move(store), options, comm));
  int size = 0;
  MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
  server->worker_of_rank_.assign(size, -1);
  for (size_t w = 0; w < options.worker_ranks.size(); ++w) {
    const int rank = options.worker_ranks[w];
    if (rank < 0 || rank >= size) return InvalidArgument("worker rank out of range");
    server->worker_of_rank_[rank] = static_cast<int>(w);
  }
  for (int t = 0; t < server->store_->num_tables(); ++t) {
    server->shapes_.push_back(TableShape{server->store_->spec(t).dim});
  }
  server->sums_.resize(server->store_->num_tables());
  return server;
}

Status PsServer::Run() {
  // Idle polling backs off to short sleeps so that a server sharing cores with workers (tests,
  // small machines) does not take their CPU time.
  int idle = 0;
  while (!done_) {
    int flag = 0;
    MPI_Status status;
    MPI_RETURN_IF_ERROR(MPI_Iprobe(MPI_ANY_SOURCE, kPsRequestTag, comm_, &flag, &status));
    if (!flag) {
      RETURN_IF_ERROR(ReapSends(false));
      if (++idle > 64)
        std::this_thread::sleep_for(std::chrono::microseconds(idle > 1024 ? 200 : 20));
      continue;
    }
    idle = 0;
    int bytes = 0;
    MPI_RETURN_IF_ERROR(MPI_Get_count(&status, MPI_BYTE, &bytes));
    std::unique_ptr<Incoming> in;
    RETURN_IF_ERROR(Receive(status.MPI_SOURCE, bytes, &in));
    RETURN_IF_ERROR(Handle(std::move(in)));
  }
  return ReapSends(true);
}

Status PsServer::Receive(int source, int bytes, std::unique_ptr<Incoming>* in) {
  auto msg = std::make_unique<Incoming>();
  msg->source = source;
  msg->bytes = static_cast<size_t>(bytes);
  msg->buffer.resize((msg->bytes + 7) / 8);
  MPI_RETURN_IF_ERROR(MPI_Recv(msg->buffer.data(), bytes, MPI_BYTE, source, kPsRequestTag, comm_,
                               MPI_STATUS_IGNORE));
  *in = std::move(msg);
  return Status::OK();
}

Status PsServer::Handle(std::unique_ptr<Incoming> in) {
  const int source = in->source;
  std::string_view frame(reinterpret_cast<const char*>(in->buffer.data()), in->bytes);
  Status valid = DecodeRequest(frame, shapes_, &in->request, &in->slices);
  const uint64_t id = in->request.request_id();
  if (!valid.ok()) return ReplyError(source, id, valid);
  in->worker = worker_of_rank_[source];
  if (in->worker < 0) {
    return ReplyError(source, id,
                      InvalidArgument("ps request from rank " + std::to_string(source) +
                                      ", which is not a worker"));
  }
  if (in->request.worker() != in->worker) {
    return ReplyError(source, id,
                      InvalidArgument("ps request.worker: " + std::to_string(in->request.worker()) +
                                      ", but rank " + std::to_string(source) + " is worker " +
                                      std::to_string(in->worker)));
  }
  const PsOp op = in->request.op();
  switch (op) {
    case PS_PULL:
    case PS_PULL_EVAL:
      if (clock_.PullReady(in->request.step())) return ServePull(*in);
      deferred_pulls_.push_back(std::move(in));
      return Status::OK();
    case PS_PUSH: {
      const int worker = in->worker;
      const int64_t step = in->request.step();
      RETURN_IF_ERROR(ReplyOk(source, id));  // received; BSP applies it with the step
      clock_.Pushed(worker, step);
      if (options_.sync == ClusterConfig::BSP) {
        pending_pushes_[step].push_back(std::move(in));
      } else {
        std::vector<std::unique_ptr<Incoming>> one;
        one.push_back(std::move(in));
        RETURN_IF_ERROR(ApplyPushes(std::move(one), step));
      }
      return Advance();
    }
    case PS_STATS: {
      PsReply reply;
      reply.set_request_id(id);
      for (int t = 0; t < store_->num_tables(); ++t) {
        const TableStats s = store_->stats(t);
        PsTableStats* out = reply.add_stats();
        out->set_table(t);
        out->set_rows(s.rows);
        out->set_created(s.created);
        out->set_pulled_keys(s.pulled_keys);
        out->set_pushed_keys(s.pushed_keys);
        out->set_resident_rows(s.resident_rows);
        out->set_cache_hits(s.cache_hits);
        out->set_cache_misses(s.cache_misses);
      }
      return Reply(source, &reply, {});
    }
    case PS_SAVE_SNAPSHOT:
    case PS_RESTORE_SNAPSHOT:
    case PS_CHECKPOINT:
    case PS_RESTORE:
    case PS_IMPORT:
    case PS_SHUTDOWN: {
      for (const auto& other : collective_) {
        if (other->request.op() != op) {
          return ReplyError(source, id,
                            FailedPrecondition("ps request: " + PsOp_Name(op) + " from worker " +
                                               std::to_string(in->worker) + " while " +
                                               PsOp_Name(other->request.op()) + " is in progress"));
        }
        if (other->worker == in->worker) {
          return ReplyError(source, id,
                            FailedPrecondition("ps request: worker " + std::to_string(in->worker) +
                                               " sent " + PsOp_Name(op) + " twice"));
        }
      }
      collective_.push_back(std::move(in));
      return Advance();
    }
    default:
      return ReplyError(
          source, id,
          InvalidArgument("ps request.op: " + PsOp_Name(op) + " is not served by this server"));
  }
}

Status PsServer::ServePull(const Incoming& in) {
  const bool training = in.request.op() == PS_PULL;
  size_t total = 0;
  for (const SliceView& s : in.slices) total += static_cast<size_t>(s.num_keys) * s.dim;
  pull_buffer_.resize(total);
  std::vector<SliceView> out = in.slices;
  size_t at = 0;
  for (SliceView& s : out) {
    float* rows = pull_buffer_.data() + at;
    Status st = store_->Pull(s.table, s.keys, s.num_keys, in.request.step(), training, rows);
    if (!st.ok()) return ReplyError(in.source, in.request.request_id(), st);
    s.values = rows;
    at += static_cast<size_t>(s.num_keys) * s.dim;
  }
  PsReply reply;
  reply.set_request_id(in.request.request_id());
  return Reply(in.source, &reply, out);
}

Status PsServer::ApplyPushes(std::vector<std::unique_ptr<Incoming>> pushes, int64_t step) {
  if (pushes.size() == 1) {
    for (const SliceView& s : pushes[0]->slices) {
      RETURN_IF_ERROR(store_->Push(s.table, s.keys, s.num_keys, step, s.values));
    }
    return Status::OK();
  }
  // Sum each key's gradient over the workers, in worker order, then apply once.
  std::sort(pushes.begin(), pushes.end(),
            [](const auto& a, const auto& b) { return a->worker < b->worker; });
  for (StepSum& sum : sums_) {
    sum.index.Clear();
    sum.keys.clear();
    sum.grads.clear();
  }
  for (const auto& push : pushes) {
    for (const SliceView& s : push->slices) {
      StepSum& sum = sums_[s.table];
      for (uint32_t i = 0; i < s.num_keys; ++i) {
        const uint32_t next = static_cast<uint32_t>(sum.keys.size());
        uint32_t row = next;
        if (sum.index.Insert(s.keys[i], next)) {
          sum.keys.push_back(s.keys[i]);
          sum.grads.insert(sum.grads.end(), s.values + static_cast<size_t>(i) * s.dim,
                           s.values + static_cast<size_t>(i + 1) * s.dim);
        } else {
          row = sum.index.Find(s.keys[i]);
          float* g = sum.grads.data() + static_cast<size_t>(row) * s.dim;
          const float* add = s.values + static_cast<size_t>(i) * s.dim;
          for (int j = 0; j < s.dim; ++j) g[j] += add[j];
        }
      }
    }
  }
  for (int t = 0; t < static_cast<int>(sums_.size()); ++t) {
    StepSum& sum = sums_[t];
    if (sum.keys.empty()) continue;
    RETURN_IF_ERROR(store_->Push(t, sum.keys.data(), static_cast<int64_t>(sum.keys.size()), step,
                                 sum.grads.data()));
  }
  return Status::OK();
}

Status PsServer::ServeCollective(PsOp op) {
  Status result;
  switch (op) {
    case PS_SAVE_SNAPSHOT:
      result = store_->SaveSnapshot();
      break;
    case PS_RESTORE_SNAPSHOT:
      result = store_->RestoreSnapshot();
      break;
    case PS_CHECKPOINT: {
      const PsRequest& r = collective_[0]->request;
      result = store_->Checkpoint(r.path(), r.step(), r.incremental());
      break;
    }
    case PS_RESTORE:
      result = store_->Restore(collective_[0]->request.path());
      // The workers go on from the request's step.
      if (result.ok()) clock_.Reset(collective_[0]->request.step());
      break;
    case PS_IMPORT: {
      const PsRequest& r = collective_[0]->request;
      if (r.import_from_size() != r.import_to_size()) {
        result =
            InvalidArgument("ps request: PS_IMPORT with " + std::to_string(r.import_from_size()) +
                            " source and " + std::to_string(r.import_to_size()) + " target tables");
        break;
      }
      TableRenames renames;
      for (int i = 0; i < r.import_from_size(); ++i) {
        renames.emplace_back(r.import_from(i), r.import_to(i));
      }
      result = store_->ImportTables(r.path(), renames);
      break;
    }
    case PS_SHUTDOWN:
      done_ = true;
      break;
    default:
      result = FailedPrecondition(PsOp_Name(op) + " is not a collective request");
      break;
  }
  for (const auto& in : collective_) {
    if (result.ok()) {
      RETURN_IF_ERROR(ReplyOk(in->source, in->request.request_id()));
    } else {
      RETURN_IF_ERROR(ReplyError(in->source, in->request.request_id(), result));
    }
  }
  collective_.clear();
  return Status::OK();
}

Status PsServer::Advance() {
  // BSP: apply every step whose pushes are all in.
  for (int64_t step = clock_.CompleteStep(); step >= 0; step = clock_.CompleteStep()) {
    auto it = pending_pushes_.find(step);
    CHECK(it != pending_pushes_.end());
    std::vector<std::unique_ptr<Incoming>> pushes = std::move(it->second);
    pending_pushes_.erase(it);
    RETURN_IF_ERROR(ApplyPushes(std::move(pushes), step));
    clock_.Applied();
  }
  // The eviction sweep (TableStorageConfig.evict_*), every evict_every_steps applied steps.
  if (options_.evict_every_steps > 0 &&
      clock_.applied() - last_sweep_ >= options_.evict_every_steps) {
    last_sweep_ = clock_.applied();
    RETURN_IF_ERROR(store_->EvictStale(last_sweep_));
  }
  for (size_t i = 0; i < deferred_pulls_.size();) {
    if (clock_.PullReady(deferred_pulls_[i]->request.step())) {
      RETURN_IF_ERROR(ServePull(*deferred_pulls_[i]));
      deferred_pulls_.erase(deferred_pulls_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  if (!collective_.empty() && collective_.size() == options_.worker_ranks.size()) {
    int64_t step = 0;
    for (const auto& in : collective_) step = std::max(step, in->request.step());
    // A restore sets the clock (the rows and steps before it are replaced); other collectives
    // wait until every push before their step is applied.
    const bool restore = collective_[0]->request.op() == PS_RESTORE;
    if (restore || clock_.PullReady(step) || options_.sync != ClusterConfig::BSP) {
      RETURN_IF_ERROR(ServeCollective(collective_[0]->request.op()));
    }
  }
  return Status::OK();
}

Status PsServer::Reply(int source, PsReply* reply, const std::vector<SliceView>& slices) {
  Outgoing out;
  EncodeFrame(reply, slices, /*with_keys=*/false, /*with_values=*/true, &out.frame);
  sends_.push_back(std::move(out));
  Outgoing& o = sends_.back();
  MPI_RETURN_IF_ERROR(MPI_Isend(o.frame.data(), static_cast<int>(o.frame.size()), MPI_BYTE, source,
                                PsReplyTag(reply->request_id()), comm_, &o.request));
  return Status::OK();
}

Status PsServer::ReplyOk(int source, uint64_t request_id) {
  PsReply reply;
  reply.set_request_id(request_id);
  return Reply(source, &reply, {});
}

Status PsServer::ReplyError(int source, uint64_t request_id, const Status& status) {
  LOG(WARNING) << "ps server " << options_.server_index << ": refused a request from rank "
               << source << ": " << status.ToString();
  PsReply reply;
  reply.set_request_id(request_id);
  reply.set_code(static_cast<int>(status.code()));
  reply.set_error(status.message());
  return Reply(source, &reply, {});
}

Status PsServer::ReapSends(bool wait_all) {
  while (!sends_.empty()) {
    int done = 0;
    MPI_Request* request = &sends_.front().request;
    if (wait_all) {
      MPI_RETURN_IF_ERROR(MPI_Wait(request, MPI_STATUS_IGNORE));
      done = 1;
    } else {
      MPI_RETURN_IF_ERROR(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    }
    if (!done) return Status::OK();
    sends_.pop_front();
  }
  return Status::OK();
}

}  // namespace moerec
