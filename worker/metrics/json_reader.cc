#include "worker/metrics/json_reader.h"

#include <glog/logging.h>

#include <cstdlib>

namespace moerec {

// Recursive descent over the text; depth is bounded so that hostile input cannot exhaust the
// stack.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Status ParseDocument(JsonValue* out) {
    RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("end of input");
    return Status::OK();
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status Error(const std::string& expected) const {
    const std::string found =
        pos_ < text_.size() ? "'" + std::string(1, text_[pos_]) + "'" : "the end";
    return InvalidArgument("JSON at byte " + std::to_string(pos_) + ": expected " + expected +
                           ", found " + found);
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return Error("at most " + std::to_string(kMaxDepth) + " levels");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("a value");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      out->kind_ = JsonValue::Kind::kString;
      return ParseString(&out->string_);
    }
    if (Consume("null")) {
      out->kind_ = JsonValue::Kind::kNull;
      return Status::OK();
    }
    const bool is_true = Consume("true");
    if (is_true || Consume("false")) {
      out->kind_ = JsonValue::Kind::kBool;
      out->bool_ = is_true;
      return Status::OK();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    return Error("a value");
  }

  Status ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (!digits()) return Error("a digit");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Error("a digit after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return Error("an exponent");
    }
    const std::string number(text_.substr(start, pos_ - start));
    out->kind_ = JsonValue::Kind::kNumber;
    out->number_ = std::strtod(number.c_str(), nullptr);
    return Status::OK();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status ParseHex4(uint32_t* cp) {
    if (pos_ + 4 > text_.size()) return Error("4 hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        v |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        v |= h - 'A' + 10;
      } else {
        return Error("a hex digit");
      }
      ++pos_;
    }
    *cp = v;
    return Status::OK();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // the opening quote
    out->clear();
    while (true) {
      if (pos_ >= text_.size()) return Error("'\"' closing the string");
      const char c = text_[pos_++];
      if (c == '"') return Status::OK();
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return Error("no raw control character in a string");
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("an escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          RETURN_IF_ERROR(ParseHex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00 && Consume("\\u")) {
            uint32_t low = 0;
            RETURN_IF_ERROR(ParseHex4(&low));
            if (low < 0xDC00 || low >= 0xE000) return Error("a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Error("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
      }
    }
  }

  Status ParseArray(JsonValue* out, int depth) {
    ++pos_;
    out->kind_ = JsonValue::Kind::kArray;
    SkipSpace();
    if (Consume("]")) return Status::OK();
    while (true) {
      out->array_.emplace_back();
      RETURN_IF_ERROR(ParseValue(&out->array_.back(), depth + 1));
      SkipSpace();
      if (Consume("]")) return Status::OK();
      if (!Consume(",")) return Error("',' or ']'");
    }
  }

  Status ParseObject(JsonValue* out, int depth) {
    ++pos_;
    out->kind_ = JsonValue::Kind::kObject;
    SkipSpace();
    if (Consume("}")) return Status::OK();
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("a member name");
      JsonValue::Member member;
      RETURN_IF_ERROR(ParseString(&member.first));
      SkipSpace();
      if (!Consume(":")) return Error("':'");
      RETURN_IF_ERROR(ParseValue(&member.second, depth + 1));
      out->members_.push_back(std::move(member));
      SkipSpace();
      if (Consume("}")) return Status::OK();
      if (!Consume(",")) return Error("',' or '}'");
    }
  }

  const std::string_view text_;
  size_t pos_ = 0;
};

StatusOr<JsonValue> JsonValue::Parse(std::string_view text) {
  JsonValue value;
  JsonParser parser(text);
  RETURN_IF_ERROR(parser.ParseDocument(&value));
  return value;
}

bool JsonValue::boolean() const {
  CHECK(kind_ == Kind::kBool);
  return bool_;
}
double JsonValue::number() const {
  CHECK(kind_ == Kind::kNumber);
  return number_;
}
const std::string& JsonValue::string() const {
  CHECK(kind_ == Kind::kString);
  return string_;
}
const std::vector<JsonValue>& JsonValue::array() const {
  CHECK(kind_ == Kind::kArray);
  return array_;
}
const std::vector<JsonValue::Member>& JsonValue::members() const {
  CHECK(kind_ == Kind::kObject);
  return members_;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const Member& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

double JsonValue::NumberOr(std::string_view key, double fallback) const {
  const JsonValue* v = Find(key);
  return v != nullptr && v->is_number() ? v->number_ : fallback;
}

std::string JsonValue::StringOr(std::string_view key, const std::string& fallback) const {
  const JsonValue* v = Find(key);
  return v != nullptr && v->is_string() ? v->string_ : fallback;
}

}  // namespace moerec
