#include "worker/metrics/event_file.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/crc32c.h"

namespace moerec {
namespace {

void AppendFixed32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

double WallTimeNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace

std::string EventFileWriter::FrameRecord(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  const uint64_t length = data.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  AppendFixed32(MaskCrc32c(Crc32c(out.data(), 8)), &out);
  out += data;
  AppendFixed32(MaskedCrc32c(data), &out);
  return out;
}

StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Open(const std::string& dir,
                                                                 const Options& options) {
  if (!(options.flush_secs > 0)) {
    return InvalidArgument("event file flush_secs = " + std::to_string(options.flush_secs) +
                           ": must be > 0");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create TensorBoard folder " + dir + ": " + ec.message());
  const std::string base = dir + "/events.out.tfevents." +
                           std::to_string(static_cast<long long>(std::time(nullptr))) + "." +
                           HostName();
  // A restart within the same second on the same host must not append to the earlier file.
  std::string path = base;
  int fd = -1;
  for (int n = 1; fd < 0; ++n) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno != EEXIST || n > 1000) return ErrnoError("create " + path);
      path = base + "." + std::to_string(n);
    }
  }
  std::unique_ptr<EventFileWriter> writer(new EventFileWriter(path, fd, options));
  TbEvent version;
  version.set_wall_time(WallTimeNow());
  version.set_file_version("brain.Event:2");
  RETURN_IF_ERROR(writer->Write(version));
  RETURN_IF_ERROR(writer->Flush());
  return writer;
}

EventFileWriter::EventFileWriter(std::string path, int fd, const Options& options)
    : path_(std::move(path)), fd_(fd), options_(options) {
  flusher_ = std::thread([this] { FlushLoop(); });
}

EventFileWriter::~EventFileWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  flusher_.join();
  Status s = Flush();
  if (!s.ok()) LOG(WARNING) << s.ToString();
  ::close(fd_);
}

Status EventFileWriter::Write(const TbEvent& event) {
  const std::string framed = FrameRecord(event.SerializeAsString());
  std::lock_guard<std::mutex> lock(mu_);
  pending_ += framed;
  return write_error_;
}

Status EventFileWriter::WriteSummary(int64_t step, const TbSummary& summary) {
  TbEvent event;
  event.set_wall_time(WallTimeNow());
  event.set_step(step);
  *event.mutable_summary() = summary;
  return Write(event);
}

Status EventFileWriter::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return FlushLocked();
}

Status EventFileWriter::FlushLocked() {
  size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Whole records already written stay written; the rest waits for the next flush. A
      // partial record cannot be taken back, which is why records go in one write loop.
      pending_.erase(0, done);
      write_error_ = ErrnoError("write " + path_);
      return write_error_;
    }
    done += static_cast<size_t>(n);
  }
  pending_.clear();
  write_error_ = Status::OK();
  return Status::OK();
}

void EventFileWriter::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto period = std::chrono::duration<double>(options_.flush_secs);
  while (!stopping_) {
    wake_.wait_for(lock, period, [this] { return stopping_; });
    if (!pending_.empty()) {
      Status s = FlushLocked();
      if (!s.ok()) LOG(WARNING) << s.ToString();
    }
  }
}

TbHistogram MakeHistogram(const std::vector<double>& values, int buckets) {
  TbHistogram h;
  if (values.empty()) return h;
  const auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  const double lo = *lo_it, hi = *hi_it;
  double sum = 0, squares = 0;
  for (double v : values) {
    sum += v;
    squares += v * v;
  }
  h.set_min(lo);
  h.set_max(hi);
  h.set_num(static_cast<double>(values.size()));
  h.set_sum(sum);
  h.set_sum_squares(squares);
  buckets = std::max(1, buckets);
  // Equal widths over [lo, hi]; one narrow bucket when every value is the same.
  const double width = hi > lo ? (hi - lo) / buckets : std::max(1e-12, std::abs(lo) * 1e-6);
  if (!(hi > lo)) buckets = 1;
  std::vector<double> counts(buckets, 0.0);
  for (double v : values) {
    int b = static_cast<int>((v - lo) / width);
    counts[std::clamp(b, 0, buckets - 1)] += 1;
  }
  for (int b = 0; b < buckets; ++b) {
    h.add_bucket_limit(b + 1 == buckets ? std::max(hi, lo + width) : lo + width * (b + 1));
    h.add_bucket(counts[b]);
  }
  return h;
}

}  // namespace moerec
