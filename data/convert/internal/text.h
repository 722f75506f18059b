// Text input for the converters: a line reader that counts lines, field splitting with an
// arbitrary delimiter and optional RFC 4180 quoting, strict number parsing, and the stable
// string hash that turns categorical values into 64-bit ids.
//
// Bytes are taken as they are: no encoding is assumed, so Latin-1 text (MovieLens 1M titles)
// passes through unchanged. Thread-safety: a LineReader belongs to one thread; the functions
// are pure.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_TEXT_H_
#define MOEREC_DATA_CONVERT_INTERNAL_TEXT_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace moerec::convert {

// Reads a file line by line. Line terminators ("\n", "\r\n") are stripped; a last line without
// a terminator is still a line.
class LineReader {
 public:
  static StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Reads the next line into *line; false at the end of the file. An I/O error is a Status.
  StatusOr<bool> Next(std::string_view* line);
  // 1-based number of the line last returned (0 before the first).
  int64_t line_number() const { return line_number_; }
  // Bytes of the lines returned so far, terminators included.
  int64_t bytes_read() const { return bytes_read_; }
  const std::string& path() const { return path_; }
  // "path:line", for messages about the line last returned.
  std::string Where() const { return path_ + ":" + std::to_string(line_number_); }

 private:
  LineReader(std::string path, FILE* file) : path_(std::move(path)), file_(file) {}
  const std::string path_;
  FILE* file_;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t line_number_ = 0;
  int64_t bytes_read_ = 0;
};

// How far a pass over a list of files has got, for progress lines: the bytes of the lines read
// so far over the files' total size (taken when constructed).
class PassShare {
 public:
  PassShare() = default;
  // Files that cannot be inspected count as empty.
  explicit PassShare(const std::vector<std::string>& paths);
  void Rewind() { finished_ = 0; }
  // Before a reader of one of the files is dropped at its end.
  void Finished(const LineReader& reader) { finished_ += reader.bytes_read(); }
  // In [0, 1], counting the lines `current` (null: none open) has returned; -1 when the files
  // are empty.
  double Share(const LineReader* current) const;

 private:
  int64_t total_ = 0;
  int64_t finished_ = 0;
};

// Splits `line` at every occurrence of `delimiter` (non-empty) into *fields, which point into
// `line`. No quoting.
void SplitPlain(std::string_view line, std::string_view delimiter,
                std::vector<std::string_view>* fields);

// Splits with quoting: a field that starts with `quote` runs to the matching quote, where a
// doubled quote stands for one (those fields are unescaped into *storage, which must outlive
// *fields). Returns an error message (empty when fine) naming the 1-based field for an
// unterminated quote or text after a closing quote.
std::string SplitQuoted(std::string_view line, std::string_view delimiter, char quote,
                        std::vector<std::string_view>* fields, std::vector<std::string>* storage);

// Strict parsers: the whole of `s` must be the number (no spaces, no trailing text).
std::optional<int64_t> ParseInt64(std::string_view s);
std::optional<uint64_t> ParseUint64(std::string_view s);  // decimal digits only
std::optional<double> ParseDouble(std::string_view s);    // finite values only

// Stable 64-bit hash of bytes: FNV-1a 64, then Mix64 so that similar strings spread over all
// bits. Fixed forever: ids written into shards depend on it.
uint64_t HashString(std::string_view s);

// "abc" with quotes and non-printable bytes escaped as \xNN, cut at 40 bytes: for messages.
std::string Quote(std::string_view s);

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_TEXT_H_
