// Status and StatusOr: the error tier for what the world can get wrong (I/O, bad data, bad
// config, a peer that went away). Program invariants use glog CHECK instead.
//
// A Status is cheap to copy when OK (no allocation). Messages should name the thing that is
// wrong: the file and line, the config field and the allowed values, the wire field.
// Thread-safety: values; no shared state.
#ifndef MOEREC_CORE_STATUS_H_
#define MOEREC_CORE_STATUS_H_

#include <glog/logging.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace moerec {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad config, bad data, bad wire message
  kNotFound,         // a file, table or key that should exist does not
  kIoError,          // the OS or a storage engine failed
  kCorruption,       // a checksum or structure check failed
  kFailedPrecondition,
  kUnavailable,  // a peer is gone or timed out
  kInternal,
  kResourceExhausted,  // a disk full, or not memory enough for what a config asks for
};
// Codes travel on the wire as ints in [0, kLastStatusCode].
inline constexpr int kLastStatusCode = static_cast<int>(StatusCode::kResourceExhausted);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : state_(code == StatusCode::kOk ? nullptr
                                       : std::make_shared<State>(State{code, std::move(message)})) {
  }

  static Status OK() { return Status(); }

  // Drops the status on purpose (best-effort cleanup on a path that already failed); say why
  // at the call.
  void IgnoreError() const {}

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(const std::string& context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const State> state_;
};

inline Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status IoError(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
inline Status Corruption(std::string m) { return Status(StatusCode::kCorruption, std::move(m)); }
inline Status FailedPrecondition(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status Unavailable(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status ResourceExhausted(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}

// Prints ToString() (for logs and test messages).
std::ostream& operator<<(std::ostream& os, const Status& status);

// IoError carrying strerror(errno) for `what` (e.g. "open /path"); ResourceExhausted when errno
// says the disk or the quota is full; FailedPrecondition, with what to change, for a permission
// refused (EACCES, EPERM) or a read-only file system (EROFS): a restart would meet them again.
Status ErrnoError(const std::string& what);

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    CHECK(!status_.ok()) << "StatusOr constructed from an OK Status without a value";
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    CHECK(ok()) << status_.ToString();
    return *value_;
  }
  const T& value() const& {
    CHECK(ok()) << status_.ToString();
    return *value_;
  }
  T&& value() && {
    CHECK(ok()) << status_.ToString();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace moerec

#define MOEREC_CONCAT_INNER(a, b) a##b
#define MOEREC_CONCAT(a, b) MOEREC_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::moerec::Status moerec_status_ = (expr);        \
    if (!moerec_status_.ok()) return moerec_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates a StatusOr expression; returns its Status on error,
// otherwise moves the value into lhs (which may be a declaration).
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(MOEREC_CONCAT(moerec_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#endif  // MOEREC_CORE_STATUS_H_
