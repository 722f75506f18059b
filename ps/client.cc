#include "ps/client.h"

#include <cstring>

#include "comm/mpi_check.h"
#include "ps/wire.h"

namespace moerec {

PsClient::PsClient(std::vector<TableSpec> tables, const Options& options, MPI_Comm comm)
    : tables_(std::move(tables)), options_(options), comm_(comm) {}

PsClient::~PsClient() {
  for (auto& [ticket, pending] : pending_) {
    for (auto& ex : pending.exchanges) {
      if (ex->send != MPI_REQUEST_NULL) MPI_LOG_IF_ERROR(MPI_Wait(&ex->send, MPI_STATUS_IGNORE));
    }
  }
}

StatusOr<std::unique_ptr<PsClient>> PsClient::Create(std::vector<TableSpec> tables,
                                                     const Options& options, MPI_Comm comm) {
  if (options.server_ranks.empty()) return InvalidArgument("a ps client needs a server");
  return std::unique_ptr<PsClient>(new PsClient(std::move(tables), options, comm));
}

EmbeddingStore::Ticket PsClient::Start(PsOp op, const std::vector<TableRequest>* requests,
                                       int64_t step, std::vector<TableRequest>* pull_target,
                                       const PsRequest* fields) {
  const Ticket ticket = next_ticket_++;
  Pending& pending = pending_[ticket];
  pending.pull_target = pull_target;
  last_step_ = step;
  const int servers = num_servers();
  const bool push = op == PS_PUSH;
  std::vector<std::unique_ptr<Exchange>>& exchanges = pending.exchanges;
  for (int s = 0; s < servers; ++s) {
    exchanges.push_back(std::make_unique<Exchange>());
    exchanges.back()->server = s;
  }
  // Route keys (and gradients) to their shards; one slice per (server, table).
  std::vector<std::vector<std::vector<float>>> values(servers);
  if (requests != nullptr) {
    for (size_t r = 0; r < requests->size(); ++r) {
      const TableRequest& req = (*requests)[r];
      pending.status = CheckTableRequest(req, tables_);
      if (!pending.status.ok()) return ticket;
      const TableSpec& spec = tables_[req.table];
      const size_t n = req.keys.size();
      for (int s = 0; s < servers; ++s) {
        Exchange& ex = *exchanges[s];
        ex.keys.emplace_back();
        ex.positions.emplace_back();
        ex.request_of_slice.push_back(static_cast<int>(r));
        values[s].emplace_back();
      }
      for (size_t i = 0; i < n; ++i) {
        const int s = servers == 1 ? 0 : ShardOf(spec.name_hash, req.keys[i], servers);
        Exchange& ex = *exchanges[s];
        ex.keys.back().push_back(req.keys[i]);
        ex.positions.back().push_back(static_cast<uint32_t>(i));
        if (push) {
          const float* g = req.values.data() + i * spec.dim;
          values[s].back().insert(values[s].back().end(), g, g + spec.dim);
        }
      }
    }
  }
  for (int s = 0; s < servers; ++s) {
    Exchange& ex = *exchanges[s];
    // Drop empty slices (a server owns none of a table's keys in this batch).
    std::vector<SliceView> slices;
    std::vector<std::vector<uint64_t>> keys;
    std::vector<std::vector<uint32_t>> positions;
    std::vector<int> request_of_slice;
    for (size_t k = 0; k < ex.keys.size(); ++k) {
      if (ex.keys[k].empty()) continue;
      keys.push_back(std::move(ex.keys[k]));
      positions.push_back(std::move(ex.positions[k]));
      request_of_slice.push_back(ex.request_of_slice[k]);
      SliceView v;
      v.table = (*requests)[ex.request_of_slice[k]].table;
      v.dim = tables_[v.table].dim;
      v.num_keys = static_cast<uint32_t>(keys.back().size());
      v.keys = keys.back().data();
      v.values = push ? values[s][k].data() : nullptr;
      slices.push_back(v);
    }
    ex.keys = std::move(keys);
    ex.positions = std::move(positions);
    ex.request_of_slice = std::move(request_of_slice);
    for (size_t k = 0; k < slices.size(); ++k) slices[k].keys = ex.keys[k].data();
    PsRequest header;
    if (fields != nullptr) header.MergeFrom(*fields);
    header.set_op(op);
    ex.request_id = next_request_id_++;
    header.set_request_id(ex.request_id);
    header.set_worker(options_.worker_index);
    header.set_step(step);
    EncodeFrame(&header, slices, /*with_keys=*/true, /*with_values=*/push, &ex.frame);
    for (SliceView& v : slices) v.values = nullptr;
    ex.slices = std::move(slices);
    const int rc = MPI_Isend(ex.frame.data(), static_cast<int>(ex.frame.size()), MPI_BYTE,
                             options_.server_ranks[s], kPsRequestTag, comm_, &ex.send);
    if (rc != MPI_SUCCESS) {
      pending.status = MpiError(rc, "MPI_Isend", __FILE__, __LINE__);
      return ticket;
    }
    bytes_sent_ += static_cast<int64_t>(ex.frame.size());
  }
  return ticket;
}

EmbeddingStore::Ticket PsClient::Pull(std::vector<TableRequest>* requests, int64_t step,
                                      bool training) {
  return Start(training ? PS_PULL : PS_PULL_EVAL, requests, step, requests);
}

EmbeddingStore::Ticket PsClient::Push(const std::vector<TableRequest>* requests, int64_t step) {
  return Start(PS_PUSH, requests, step, nullptr);
}

Status PsClient::Finish(Exchange* ex, std::vector<TableRequest>* pull_target, PsReply* reply) {
  if (ex->send != MPI_REQUEST_NULL) MPI_RETURN_IF_ERROR(MPI_Wait(&ex->send, MPI_STATUS_IGNORE));
  const int rank = options_.server_ranks[ex->server];
  MPI_Message message;
  MPI_Status status;
  MPI_RETURN_IF_ERROR(MPI_Mprobe(rank, PsReplyTag(ex->request_id), comm_, &message, &status));
  int bytes = 0;
  MPI_RETURN_IF_ERROR(MPI_Get_count(&status, MPI_BYTE, &bytes));
  reply_buffer_.resize((static_cast<size_t>(bytes) + 7) / 8);
  MPI_RETURN_IF_ERROR(
      MPI_Mrecv(reply_buffer_.data(), bytes, MPI_BYTE, &message, MPI_STATUS_IGNORE));
  bytes_received_ += bytes;
  std::vector<SliceView> rows;
  const std::vector<SliceView> expected =
      pull_target != nullptr ? ex->slices : std::vector<SliceView>();
  RETURN_IF_ERROR(DecodeReply(std::string_view(reinterpret_cast<const char*>(reply_buffer_.data()),
                                               static_cast<size_t>(bytes)),
                              ex->request_id, expected, reply, &rows)
                      .WithContext("from server " + std::to_string(ex->server)));
  if (reply->code() < 0 || reply->code() > kLastStatusCode) {
    return Corruption("server " + std::to_string(ex->server) + " answered with status code " +
                      std::to_string(reply->code()) + ", not in [0, " +
                      std::to_string(kLastStatusCode) + "]");
  }
  if (reply->code() != 0) {
    return Status(static_cast<StatusCode>(reply->code()),
                  "server " + std::to_string(ex->server) + ": " + reply->error());
  }
  if (pull_target != nullptr) {
    for (size_t k = 0; k < rows.size(); ++k) {
      TableRequest& req = (*pull_target)[ex->request_of_slice[k]];
      const int dim = rows[k].dim;
      const std::vector<uint32_t>& pos = ex->positions[k];
      for (size_t j = 0; j < pos.size(); ++j) {
        std::memcpy(req.values.data() + static_cast<size_t>(pos[j]) * dim, rows[k].values + j * dim,
                    dim * sizeof(float));
      }
    }
  }
  return Status::OK();
}

Status PsClient::Wait(Ticket ticket) {
  auto it = pending_.find(ticket);
  CHECK(it != pending_.end()) << "Wait on unknown or already waited ticket " << ticket;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  Status result = pending.status;
  // Every sent message is answered; collect all replies even after an error.
  for (auto& ex : pending.exchanges) {
    if (ex->frame.empty()) continue;  // never sent
    PsReply reply;
    Status s = Finish(ex.get(), pending.pull_target, &reply);
    if (result.ok()) result = s;
  }
  return result;
}

Status PsClient::Collective(PsOp op, int64_t step, const PsRequest* fields) {
  const Ticket t = Start(op, nullptr, step, nullptr, fields);
  return Wait(t);
}

Status PsClient::Checkpoint(const std::string& dir, int64_t step, bool incremental) {
  PsRequest fields;
  fields.set_path(dir);
  fields.set_incremental(incremental);
  return Collective(PS_CHECKPOINT, step, &fields);
}

Status PsClient::Restore(const std::string& dir, int64_t step) {
  PsRequest fields;
  fields.set_path(dir);
  RETURN_IF_ERROR(Collective(PS_RESTORE, step, &fields));
  last_step_ = step;
  return Status::OK();
}

Status PsClient::ImportTables(const std::string& dir, const TableRenames& renames) {
  PsRequest fields;
  fields.set_path(dir);
  for (const auto& [from, to] : renames) {
    fields.add_import_from(from);
    fields.add_import_to(to);
  }
  return Collective(PS_IMPORT, last_step_, &fields);
}

Status PsClient::SaveSnapshot() { return Collective(PS_SAVE_SNAPSHOT, last_step_); }
Status PsClient::RestoreSnapshot() { return Collective(PS_RESTORE_SNAPSHOT, last_step_); }
Status PsClient::Shutdown(int64_t step) { return Collective(PS_SHUTDOWN, step); }

StatusOr<PsReply> PsClient::ServerStats(int server) {
  auto ex = std::make_unique<Exchange>();
  ex->server = server;
  ex->request_id = next_request_id_++;
  PsRequest header;
  header.set_op(PS_STATS);
  header.set_request_id(ex->request_id);
  header.set_worker(options_.worker_index);
  header.set_step(last_step_);
  EncodeFrame(&header, {}, true, false, &ex->frame);
  MPI_RETURN_IF_ERROR(MPI_Isend(ex->frame.data(), static_cast<int>(ex->frame.size()), MPI_BYTE,
                                options_.server_ranks[server], kPsRequestTag, comm_, &ex->send));
  PsReply reply;
  RETURN_IF_ERROR(Finish(ex.get(), nullptr, &reply));
  return reply;
}

StatusOr<StoreStats> PsClient::Stats() {
  StoreStats out;
  out.tables.resize(tables_.size());
  for (int server = 0; server < num_servers(); ++server) {
    ASSIGN_OR_RETURN(const PsReply reply, ServerStats(server));
    for (const PsTableStats& s : reply.stats()) {
      if (s.table() < 0 || s.table() >= static_cast<int>(tables_.size())) {
        return Corruption("server " + std::to_string(server) + " sent statistics of table " +
                          std::to_string(s.table()) + "; the job has " +
                          std::to_string(tables_.size()) + " tables");
      }
      StoreTableStats& t = out.tables[s.table()];
      t.rows += s.rows();
      t.resident_rows += s.resident_rows();
      t.cache_hits += s.cache_hits();
      t.cache_misses += s.cache_misses();
    }
  }
  return out;
}

}  // namespace moerec
