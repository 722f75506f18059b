// BadRowBudget decides what happens to a bad input row: skipped with a warning while the
// configured budget lasts, and the conversion stopped with that row's error once it is spent.
// Row errors name the file, the line and the field ("u.data:17: rating: 'x' is not a number").
//
// A quiet budget (for a second pass over rows the first pass already judged) counts nothing
// and never stops. Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_BAD_ROWS_H_
#define MOEREC_DATA_CONVERT_INTERNAL_BAD_ROWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace moerec::convert {

class BadRowBudget {
 public:
  // budget >= 0 rows may be skipped; the first `logged` are logged as warnings one by one.
  BadRowBudget(int64_t budget, int logged) : budget_(budget), logged_(logged) {}
  static BadRowBudget Quiet() {
    BadRowBudget b(0, 0);
    b.quiet_ = true;
    return b;
  }

  // `where` is "file:line", `field` names the field, `problem` says what is wrong with it.
  // OK when the row may be skipped; otherwise InvalidArgument with the row's message.
  Status Skip(const std::string& where, const std::string& field, const std::string& problem);

  int64_t skipped() const { return skipped_; }
  // The first few messages, for the summary.
  const std::vector<std::string>& examples() const { return examples_; }

 private:
  int64_t budget_;
  int logged_;
  bool quiet_ = false;
  int64_t skipped_ = 0;
  std::vector<std::string> examples_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_BAD_ROWS_H_
