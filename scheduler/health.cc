#include "scheduler/health.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "comm/mpi_check.h"

namespace moerec {
namespace {

constexpr int kHeartbeatTag = 1;
constexpr int kGoodbyeTag = 2;

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

HealthMonitor::HealthMonitor(MPI_Comm comm, const Options& options, int rank, int size)
    : comm_(comm), options_(options), rank_(rank), size_(size) {}

StatusOr<std::unique_ptr<HealthMonitor>> HealthMonitor::Start(MPI_Comm world,
                                                              const Options& options) {
  if (!(options.timeout_s > options.interval_s) || options.interval_s <= 0) {
    return InvalidArgument("health monitor: timeout (" + std::to_string(options.timeout_s) +
                           " s) must exceed the heartbeat interval (" +
                           std::to_string(options.interval_s) + " s)");
  }
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_RETURN_IF_ERROR(MPI_Comm_dup(world, &comm));
  MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int rank = 0, size = 1;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
  MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
  std::unique_ptr<HealthMonitor> monitor(new HealthMonitor(comm, options, rank, size));
  monitor->thread_ = std::thread([m = monitor.get()] { m->Loop(); });
  return monitor;
}

HealthMonitor::~HealthMonitor() {
  abandoned_ = true;
  Stop();
}

void HealthMonitor::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  MPI_LOG_IF_ERROR(MPI_Comm_free(&comm_));
}

void HealthMonitor::Abort(const std::string& message) {
  LOG(ERROR) << message;
  std::fprintf(stderr, "moerec: %s; ending the job\n", message.c_str());
  std::fflush(stderr);
  MPI_LOG_IF_ERROR(MPI_Abort(MPI_COMM_WORLD, 3));
  std::abort();  // MPI_Abort does not return; keep the compiler and readers sure of it
}

void HealthMonitor::Loop() {
  const bool chief = rank_ == options_.chief;
  // Peers this rank watches: everyone for the chief, the chief for the others.
  std::vector<int> peers;
  for (int r = 0; r < size_; ++r) {
    if (r != rank_ && (chief || r == options_.chief)) peers.push_back(r);
  }
  std::vector<Clock::time_point> heard(size_, Clock::now());
  std::vector<bool> gone(size_, false);  // said goodbye
  int goodbyes = 0;
  bool sent_goodbye = false;
  Clock::time_point last_beat = Clock::now() - std::chrono::hours(1);
  std::vector<MPI_Request> sends;
  char token = 0;
  auto send = [&](int to, int tag) {
    sends.emplace_back();
    const int rc = MPI_Isend(&token, 1, MPI_BYTE, to, tag, comm_, &sends.back());
    // A failed heartbeat is not fatal here: the peer's monitor notices the silence.
    if (rc != MPI_SUCCESS) {
      LOG(WARNING) << MpiError(rc, "MPI_Isend", __FILE__, __LINE__);
      sends.pop_back();
    }
  };
  Clock::time_point last_loop = Clock::now();
  while (true) {
    // A rank that was not running itself (stopped, swapped out) heard nothing because it did
    // not listen: it must not blame its peers for that silence. Its clocks start over.
    if (Since(last_loop) > std::max(2.0 * options_.interval_s, 1.0)) {
      LOG(WARNING) << "health monitor: this rank did not run for " << Since(last_loop)
                   << " s; waiting a full timeout for its peers again";
      std::fill(heard.begin(), heard.end(), Clock::now());
    }
    last_loop = Clock::now();
    // Receive everything that arrived.
    while (true) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &st) != MPI_SUCCESS || !flag) break;
      char buf = 0;
      MPI_LOG_IF_ERROR(
          MPI_Recv(&buf, 1, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm_, MPI_STATUS_IGNORE));
      heard[st.MPI_SOURCE] = Clock::now();
      if (st.MPI_TAG == kGoodbyeTag && !gone[st.MPI_SOURCE]) {
        gone[st.MPI_SOURCE] = true;
        ++goodbyes;
      }
    }
    if (abandoned_) break;
    if (stopping_ && !sent_goodbye) {
      for (int p : peers) send(p, kGoodbyeTag);
      sent_goodbye = true;
    }
    // Done when this rank and every peer it watches have said goodbye.
    if (sent_goodbye && goodbyes == static_cast<int>(peers.size())) break;
    if (!sent_goodbye && Since(last_beat) >= options_.interval_s) {
      for (int p : peers) send(p, kHeartbeatTag);
      last_beat = Clock::now();
    }
    for (int p : peers) {
      if (gone[p]) continue;
      const double silent = Since(heard[p]);
      if (silent > options_.timeout_s) {
        const std::string who =
            options_.describe ? options_.describe(p) : "rank " + std::to_string(p);
        char msg[256];
        std::snprintf(msg, sizeof(msg),
                      "%s (world rank %d) stopped answering: nothing heard for "
                      "%.0f s (timeout %.0f s)",
                      who.c_str(), p, silent, options_.timeout_s);
        Abort(msg);
      }
    }
    // Reap finished sends.
    for (size_t i = 0; i < sends.size();) {
      int done = 0;
      const int rc = MPI_Test(&sends[i], &done, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) LOG(WARNING) << MpiError(rc, "MPI_Test", __FILE__, __LINE__);
      if (done || rc != MPI_SUCCESS) {
        sends[i] = sends.back();
        sends.pop_back();
      } else {
        ++i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (MPI_Request& r : sends) {
    // Leaving on an error, a heartbeat nobody will receive must not hold the rank up.
    if (abandoned_) {
      MPI_LOG_IF_ERROR(MPI_Request_free(&r));
    } else {
      MPI_LOG_IF_ERROR(MPI_Wait(&r, MPI_STATUS_IGNORE));
    }
  }
}

}  // namespace moerec
