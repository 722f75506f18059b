#include "worker/metrics/json.h"

#include <glog/logging.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace moerec {
namespace json_internal {

namespace {

// Length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 when it is not
// one (a stray continuation byte, a truncated or overlong sequence, a surrogate, > U+10FFFF).
size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return n;
}

}  // namespace

void AppendString(std::string_view value, std::string* out) {
  out->reserve(out->size() + value.size() + 2);
  *out += '"';
  for (size_t i = 0; i < value.size();) {
    const char ch = value[i];
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
        } else if (static_cast<unsigned char>(ch) >= 0x80) {
          // JSON text is UTF-8: bytes that are not (a config may hold any) become U+FFFD.
          const size_t n = Utf8SequenceLength(value.substr(i));
          if (n == 0) {
            *out += "\\ufffd";
          } else {
            out->append(value.substr(i, n));
            i += n;
            continue;
          }
        } else {
          *out += ch;
        }
    }
    ++i;
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
