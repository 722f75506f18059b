#include "data/convert/internal/csv_join.h"

#include <algorithm>
#include <limits>

#include "data/convert/internal/text.h"

namespace moerec::convert {

StatusOr<std::unique_ptr<JoinTable>> JoinTable::Open(const CsvJoin& config,
                                                     const std::string& label,
                                                     const std::string& delimiter, char quote) {
  std::unique_ptr<JoinTable> table(new JoinTable(config, label, delimiter, quote));
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(config.file()));
  std::string_view line;
  ASSIGN_OR_RETURN(const bool any, reader->Next(&line));
  if (!any) {
    return InvalidArgument(label + ": " + config.file() + ": empty file; a join needs a header");
  }
  const std::string line_copy(line);
  const std::string error = table->Split(line_copy);
  if (!error.empty()) return InvalidArgument(reader->Where() + ": header: " + error);
  table->header_.assign(table->fields_.begin(), table->fields_.end());
  const std::string& key = config.has_file_key() ? config.file_key() : config.key();
  const auto it = std::find(table->header_.begin(), table->header_.end(), key);
  if (it == table->header_.end()) {
    std::string names;
    for (const std::string& h : table->header_) names += (names.empty() ? "" : ", ") + Quote(h);
    return InvalidArgument(label + (config.has_file_key() ? ".file_key" : ".key") + ": column " +
                           Quote(key) + " is not in the header of " + config.file() +
                           " (columns: " + names + ")");
  }
  table->key_index_ = static_cast<int>(it - table->header_.begin());
  return table;
}

std::string JoinTable::Split(std::string_view line) {
  if (quote_ == 0) {
    SplitPlain(line, delimiter_, &fields_);
    return std::string();
  }
  return SplitQuoted(line, delimiter_, quote_, &fields_, &storage_);
}

int JoinTable::Keep(const std::string& name) {
  CHECK(!loaded_) << "Keep after Load";
  const auto it = std::find(header_.begin(), header_.end(), name);
  if (it == header_.end()) return -1;
  const int index = static_cast<int>(it - header_.begin());
  const auto kept = std::find(kept_.begin(), kept_.end(), index);
  if (kept != kept_.end()) return static_cast<int>(kept - kept_.begin());
  kept_.push_back(index);
  return static_cast<int>(kept_.size()) - 1;
}

Status JoinTable::Load(BadRowBudget* bad) {
  CHECK(!loaded_) << "Load twice";
  loaded_ = true;
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(config_.file()));
  std::string_view line;
  ASSIGN_OR_RETURN(const bool any, reader->Next(&line));  // the header, read by Open
  if (!any) return InvalidArgument(config_.file() + ": the header is gone");
  const size_t columns = header_.size();
  while (true) {
    ASSIGN_OR_RETURN(const bool more, reader->Next(&line));
    if (!more) break;
    if (line.empty()) continue;
    std::string problem = Split(line);
    std::string field = "columns";
    if (problem.empty() && fields_.size() != columns) {
      problem = "expected " + std::to_string(columns) + " fields separated by " +
                Quote(delimiter_) + " as in the header, found " + std::to_string(fields_.size());
    }
    const bool has_key = static_cast<size_t>(key_index_) < fields_.size();
    const std::string_view key = has_key ? fields_[key_index_] : std::string_view();
    if (problem.empty() && key.empty()) {
      field = header_[key_index_];
      problem = "empty key";
    }
    if (problem.empty() && index_.count(key) > 0) {
      field = header_[key_index_];
      problem = "key " + Quote(key) + " appears twice; the first row counts";
    } else if (problem.empty()) {
      if (row_start_.size() >= std::numeric_limits<uint32_t>::max()) {
        return ResourceExhausted(config_.file() + ": more than 2^32 - 1 rows in a join table");
      }
      index_.emplace(std::string(key), static_cast<uint32_t>(row_start_.size()));
      row_start_.push_back(arena_.size());
      for (const int k : kept_) {
        arena_.append(fields_[k]);
        const uint64_t end = arena_.size() - row_start_.back();
        if (end > std::numeric_limits<uint32_t>::max()) {
          return InvalidArgument(reader->Where() + ": a row longer than 4 GiB");
        }
        cell_end_.push_back(static_cast<uint32_t>(end));
      }
      continue;
    }
    // Main rows naming this key are dropped: the row was reported here.
    if (!key.empty() && index_.count(key) == 0) bad_keys_.emplace(key);
    RETURN_IF_ERROR(bad->Skip(reader->Where(), field, problem));
  }
  return Status::OK();
}

JoinTable::Match JoinTable::Find(std::string_view key, std::vector<std::string_view>* cells) const {
  const auto it = index_.find(key);
  if (it == index_.end()) {
    return bad_keys_.find(key) != bad_keys_.end() ? Match::kBadRow : Match::kMissing;
  }
  const size_t row = it->second;
  const size_t kept = kept_.size();
  const char* start = arena_.data() + row_start_[row];
  cells->resize(kept);
  uint32_t begin = 0;
  for (size_t k = 0; k < kept; ++k) {
    const uint32_t end = cell_end_[row * kept + k];
    (*cells)[k] = std::string_view(start + begin, end - begin);
    begin = end;
  }
  return Match::kFound;
}

}  // namespace moerec::convert
