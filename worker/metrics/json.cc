#include "worker/metrics/json.h"

#include <glog/logging.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace moerec {
namespace json_internal {

void AppendString(std::string_view value, std::string* out) {
  out->reserve(out->size() + value.size() + 2);
  *out += '"';
  for (const char ch : value) {
    switch (ch) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(ch));
          *out += escaped;
        } else {
          *out += ch;
        }
    }
  }
  *out += '"';
}

void AppendDouble(double value, std::string* out) {
  if (!std::isfinite(value)) {
    *out += "null";
    return;
  }
  char text[32];
  const std::to_chars_result result = std::to_chars(text, text + sizeof(text), value);
  CHECK(result.ec == std::errc()) << "to_chars failed for " << value;
  const std::string_view written(text, result.ptr - text);
  *out += written;
  if (written.find_first_of(".e") == std::string_view::npos) *out += ".0";
}

void AppendInt(int64_t value, std::string* out) { *out += std::to_string(value); }
void AppendUint(uint64_t value, std::string* out) { *out += std::to_string(value); }

}  // namespace json_internal

JsonArray& JsonArray::Append(std::string_view value) {
  Separate();
  json_internal::AppendString(value, &text_);
  return *this;
}

JsonArray& JsonArray::Append(bool value) {
  Separate();
  text_ += value ? "true" : "false";
  return *this;
}

JsonArray& JsonArray::Append(double value) {
  Separate();
  json_internal::AppendDouble(value, &text_);
  return *this;
}

JsonArray& JsonArray::Append(std::nullptr_t) {
  Separate();
  text_ += "null";
  return *this;
}

JsonArray& JsonArray::Append(const JsonObject& value) {
  Separate();
  text_ += value.ToString();
  return *this;
}

JsonArray& JsonArray::Append(const JsonArray& value) {
  Separate();
  text_ += value.ToString();
  return *this;
}

void JsonObject::Key(std::string_view key) {
  if (count_++ > 0) text_ += ',';
  json_internal::AppendString(key, &text_);
  text_ += ':';
}

JsonObject& JsonObject::Add(std::string_view key, std::string_view value) {
  Key(key);
  json_internal::AppendString(value, &text_);
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, bool value) {
  Key(key);
  text_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, double value) {
  Key(key);
  json_internal::AppendDouble(value, &text_);
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, std::nullptr_t) {
  Key(key);
  text_ += "null";
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, const JsonObject& value) {
  Key(key);
  text_ += value.ToString();
  return *this;
}

JsonObject& JsonObject::Add(std::string_view key, const JsonArray& value) {
  Key(key);
  text_ += value.ToString();
  return *this;
}

}  // namespace moerec
