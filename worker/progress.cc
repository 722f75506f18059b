#include "worker/progress.h"

#include <glog/logging.h>

#include <cstdio>

namespace moerec {

Progress::Progress(bool interactive, int64_t total_steps, int64_t every)
    : interactive_(interactive),
      total_steps_(total_steps),
      every_(every < 1 ? 1 : every),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      last_log_(start_) {}

std::string Progress::FormatDuration(double seconds) {
  if (!(seconds >= 0)) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", static_cast<long>(s / 3600),
                  static_cast<long>(s / 60 % 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", static_cast<long>(s / 60),
                  static_cast<long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", static_cast<long>(s));
  }
  return buf;
}

void Progress::Step(int64_t step, double loss, double samples_per_sec) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta = "?";
  if (total_steps_ > 0 && step > 0) {
    eta = FormatDuration(elapsed / step * static_cast<double>(total_steps_ - step));
  }
  char line[200];
  const std::string total = total_steps_ > 0 ? "/" + std::to_string(total_steps_) : "";
  std::snprintf(line, sizeof(line), "step %ld%s | %.0f samples/s | loss %.4f | ETA %s",
                static_cast<long>(step), total.c_str(), samples_per_sec, loss, eta.c_str());
  if (interactive_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && step != total_steps_) {
      return;
    }
    last_draw_ = now;
    std::printf("\r\033[K%s", line);
    std::fflush(stdout);
    line_open_ = true;
  } else if (step % every_ == 0) {
    LOG(INFO) << line;
  }
}

void Progress::Count(int64_t done, const char* unit, bool last, double share) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  last = last || (total_steps_ > 0 && done >= total_steps_);
  std::string eta = "?";
  std::string total;
  if (total_steps_ > 0) {
    total = "/" + std::to_string(total_steps_);
    if (done > 0) eta = FormatDuration(elapsed / done * static_cast<double>(total_steps_ - done));
  } else if (share > 0.0 && share <= 1.0) {
    char read[32];
    std::snprintf(read, sizeof(read), " (%.0f%% of the input)", 100.0 * share);
    total = read;
    eta = FormatDuration(elapsed * (1.0 - share) / share);
  }
  char line[200];
  std::snprintf(line, sizeof(line), "%s %ld%s | %.0f %s/s | ETA %s", unit, static_cast<long>(done),
                total.c_str(), elapsed > 0 ? done / elapsed : 0.0, unit, eta.c_str());
  if (interactive_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && !last) return;
    last_draw_ = now;
    std::printf("\r\033[K%s", line);
    std::fflush(stdout);
    line_open_ = true;
  } else if (last || std::chrono::duration<double>(now - last_log_).count() >= every_) {
    last_log_ = now;
    LOG(INFO) << line;
  }
}

void Progress::Break() {
  if (line_open_) {
    std::printf("\n");
    std::fflush(stdout);
    line_open_ = false;
  }
}

}  // namespace moerec
