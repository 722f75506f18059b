// A tiny JSON writer for metrics lines: JsonObject and JsonArray build compact text as values
// are added, in insertion order. Strings are escaped (", \, control characters); bytes >= 0x80
// pass through, so give UTF-8. Non-finite doubles (NaN, +-inf) are written as null. Doubles
// use the shortest text that reads back to the same double, always with a '.' or exponent so
// readers keep them floating point. Duplicate keys are not detected: the caller avoids them.
// Values; not thread-safe.
#ifndef MOEREC_WORKER_METRICS_JSON_H_
#define MOEREC_WORKER_METRICS_JSON_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace moerec {

namespace json_internal {
void AppendString(std::string_view value, std::string* out);  // quoted and escaped
void AppendDouble(double value, std::string* out);
void AppendInt(int64_t value, std::string* out);
void AppendUint(uint64_t value, std::string* out);

template <typename T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

template <Integer T>
void AppendInteger(T value, std::string* out) {
  if constexpr (std::signed_integral<T>) {
    AppendInt(value, out);
  } else {
    AppendUint(value, out);
  }
}
}  // namespace json_internal

class JsonObject;

class JsonArray {
 public:
  JsonArray& Append(std::string_view value);
  JsonArray& Append(const char* value) { return Append(std::string_view(value)); }
  JsonArray& Append(bool value);
  JsonArray& Append(double value);
  JsonArray& Append(std::nullptr_t);
  JsonArray& Append(const JsonObject& value);
  JsonArray& Append(const JsonArray& value);
  template <json_internal::Integer T>
  JsonArray& Append(T value) {
    Separate();
    json_internal::AppendInteger(value, &text_);
    return *this;
  }

  bool empty() const { return count_ == 0; }
  // Compact text, e.g. [1,"a",null].
  std::string ToString() const { return "[" + text_ + "]"; }

 private:
  void Separate() {
    if (count_++ > 0) text_ += ',';
  }
  std::string text_;  // the elements, comma-separated
  size_t count_ = 0;
};

class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, bool value);
  JsonObject& Add(std::string_view key, double value);
  JsonObject& Add(std::string_view key, std::nullptr_t);
  JsonObject& AddNull(std::string_view key) { return Add(key, nullptr); }
  JsonObject& Add(std::string_view key, const JsonObject& value);
  JsonObject& Add(std::string_view key, const JsonArray& value);
  template <json_internal::Integer T>
  JsonObject& Add(std::string_view key, T value) {
    Key(key);
    json_internal::AppendInteger(value, &text_);
    return *this;
  }

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // Compact text on one line, e.g. {"step":3,"auc":0.75}.
  std::string ToString() const { return "{" + text_ + "}"; }

 private:
  void Key(std::string_view key);  // writes the separator and "key":
  std::string text_;               // the members, comma-separated
  size_t count_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_JSON_H_
