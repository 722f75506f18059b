// JsonValue: a reader of the JSON that moerec writes (worker/metrics/json.h) and of JSON in
// general (RFC 8259): null, booleans, numbers (as double), strings (escapes decoded to UTF-8),
// arrays and objects (members in file order; a repeated key keeps every occurrence and Find
// returns the first). Used by the report and the TensorBoard mirror to read metrics lines.
// Values; immutable after Parse; safe to share between threads for reading.
#ifndef MOEREC_WORKER_METRICS_JSON_READER_H_
#define MOEREC_WORKER_METRICS_JSON_READER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace moerec {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  // One JSON value and nothing but white space around it. InvalidArgument names the byte
  // offset and what was expected there.
  static StatusOr<JsonValue> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }

  // Each accessor CHECKs the kind.
  bool boolean() const;
  double number() const;
  const std::string& string() const;
  const std::vector<JsonValue>& array() const;
  const std::vector<Member>& members() const;

  // Objects: the first member named `key`, or null when absent (or when this is no object).
  const JsonValue* Find(std::string_view key) const;
  // The member `key` when it is a number, else `fallback`.
  double NumberOr(std::string_view key, double fallback) const;
  // The member `key` when it is a string, else `fallback`.
  std::string StringOr(std::string_view key, const std::string& fallback) const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<Member> members_;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_JSON_READER_H_
