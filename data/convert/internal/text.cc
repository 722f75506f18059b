#include "data/convert/internal/text.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/random.h"

namespace moerec::convert {

StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return ErrnoError("open " + path);
  }
  return std::unique_ptr<LineReader>(new LineReader(path, f));
}

LineReader::~LineReader() {
  std::fclose(file_);
  std::free(buffer_);
}

StatusOr<bool> LineReader::Next(std::string_view* line) {
  errno = 0;
  const ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) {
    if (std::ferror(file_)) return ErrnoError("read " + path_);
    return false;
  }
  size_t len = static_cast<size_t>(n);
  if (len > 0 && buffer_[len - 1] == '\n') --len;
  if (len > 0 && buffer_[len - 1] == '\r') --len;
  ++line_number_;
  bytes_read_ += n;
  *line = std::string_view(buffer_, len);
  return true;
}

PassShare::PassShare(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    std::error_code error;
    const uintmax_t size = std::filesystem::file_size(path, error);
    if (!error) total_ += static_cast<int64_t>(size);
  }
}

double PassShare::Share(const LineReader* current) const {
  if (total_ <= 0) return -1.0;
  const int64_t read = finished_ + (current != nullptr ? current->bytes_read() : 0);
  return std::min(1.0, static_cast<double>(read) / static_cast<double>(total_));
}

void SplitPlain(std::string_view line, std::string_view delimiter,
                std::vector<std::string_view>* fields) {
  fields->clear();
  size_t start = 0;
  while (true) {
    const size_t at = line.find(delimiter, start);
    if (at == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return;
    }
    fields->push_back(line.substr(start, at - start));
    start = at + delimiter.size();
  }
}

std::string SplitQuoted(std::string_view line, std::string_view delimiter, char quote,
                        std::vector<std::string_view>* fields, std::vector<std::string>* storage) {
  fields->clear();
  storage->clear();
  // Unescaped fields are collected first and bound to views at the end, because growing
  // *storage may move its strings.
  std::vector<std::pair<size_t, size_t>> unescaped;  // (field index, storage index)
  size_t pos = 0;
  while (true) {
    if (pos < line.size() && line[pos] == quote) {
      std::string value;
      size_t i = pos + 1;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == quote) {
          if (i + 1 < line.size() && line[i + 1] == quote) {
            value.push_back(quote);
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        value.push_back(line[i++]);
      }
      const std::string field_no = std::to_string(fields->size() + 1);
      if (!closed) return "field " + field_no + ": unterminated quote";
      unescaped.emplace_back(fields->size(), storage->size());
      storage->push_back(std::move(value));
      fields->push_back(std::string_view());
      if (i == line.size()) break;
      if (line.substr(i, delimiter.size()) != delimiter) {
        return "field " + field_no + ": text after the closing quote";
      }
      pos = i + delimiter.size();
      continue;
    }
    const size_t at = line.find(delimiter, pos);
    if (at == std::string_view::npos) {
      fields->push_back(line.substr(pos));
      break;
    }
    fields->push_back(line.substr(pos, at - pos));
    pos = at + delimiter.size();
  }
  for (const auto& [field, index] : unescaped) (*fields)[field] = (*storage)[index];
  return std::string();
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  if (s.empty() || s[0] == '+') return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::optional<uint64_t> ParseUint64(std::string_view s) {
  uint64_t v = 0;
  const char* end = s.data() + s.size();
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  double v = 0;
  const char* end = s.data() + s.size();
  if (s.empty()) return std::nullopt;
  // from_chars rejects a leading '+'; accept it, since spreadsheets write one.
  const char* begin = s[0] == '+' ? s.data() + 1 : s.data();
  const auto [p, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

uint64_t HashString(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

}  // namespace moerec::convert
