#include "core/status.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace moerec {
namespace {

const char* CodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kIoError:
      return "IoError";
    case StatusCode::kCorruption:
      return "Corruption";
    case StatusCode::kFailedPrecondition:
      return "FailedPrecondition";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kInternal:
      return "Internal";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
  }
  return "Unknown";
}

}  // namespace

const std::string& Status::message() const {
  static const std::string* const kEmpty = new std::string();
  return state_ ? state_->message : *kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(state_->code)) + ": " + state_->message;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(state_->code, context + ": " + state_->message);
}

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

Status ErrnoError(const std::string& what) {
  const int err = errno;
  std::string message = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(std::move(message));
  // Permissions and read-only mounts stay as they are across a restart: say what to change.
  if (err == EACCES || err == EPERM) {
    return FailedPrecondition(message + " (this process runs as uid " +
                              std::to_string(::geteuid()) +
                              ": give it access to the file and its folders)");
  }
  if (err == EROFS) {
    return FailedPrecondition(message +
                              " (the file system is mounted read-only: remount it read-write or "
                              "use a folder on another one)");
  }
  return IoError(std::move(message));
}

}  // namespace moerec
