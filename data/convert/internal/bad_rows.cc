#include "data/convert/internal/bad_rows.h"

namespace moerec::convert {

namespace {
constexpr size_t kMaxExamples = 5;
}  // namespace

Status BadRowBudget::Skip(const std::string& where, const std::string& field,
                          const std::string& problem) {
  if (quiet_) return Status::OK();
  const std::string message = where + ": " + field + ": " + problem;
  if (skipped_ >= budget_) {
    if (budget_ == 0) return InvalidArgument(message);
    return InvalidArgument("bad_row_budget of " + std::to_string(budget_) +
                           " bad rows exceeded at " + message);
  }
  ++skipped_;
  if (examples_.size() < kMaxExamples) examples_.push_back(message);
  if (skipped_ <= logged_) {
    LOG(WARNING) << "skipping bad row " << message;
  } else if (skipped_ == logged_ + 1) {
    LOG(WARNING) << "more bad rows are skipped without a warning each; see the summary";
  }
  return Status::OK();
}

}  // namespace moerec::convert
