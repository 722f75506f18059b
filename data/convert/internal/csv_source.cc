#include "data/convert/internal/csv_source.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

namespace moerec::convert {
namespace {

namespace fs = std::filesystem;

uint64_t AutoId(std::string_view value) {
  const std::optional<uint64_t> n = ParseUint64(value);
  return n ? *n : HashString(value);
}

std::string QuotedList(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& h : names) out += (out.empty() ? "" : ", ") + Quote(h);
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<CsvSource>> CsvSource::Open(const CsvInput& config, BadRowBudget* bad) {
  std::unique_ptr<CsvSource> source(new CsvSource(config));
  RETURN_IF_ERROR(source->Init(bad));
  std::vector<std::string> paths;
  for (const InputFile& file : source->files_) paths.push_back(file.path);
  source->share_ = PassShare(paths);
  return source;
}

// Files named by the config, directories expanded to their visible regular files in name order.
Status CsvSource::ExpandFiles() {
  const google::protobuf::RepeatedPtrField<std::string>* lists[3] = {
      &config_.files(), &config_.validation_files(), &config_.test_files()};
  const char* names[3] = {"csv.files", "csv.validation_files", "csv.test_files"};
  for (int split = 0; split < 3; ++split) {
    for (int i = 0; i < lists[split]->size(); ++i) {
      const std::string& path = (*lists[split])[i];
      const std::string field = std::string(names[split]) + "[" + std::to_string(i) + "]";
      std::error_code ec;
      std::vector<std::string> found;
      if (fs::is_directory(path, ec)) {
        for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
          const std::string name = e.path().filename().string();
          if (!name.empty() && name[0] != '.' && e.is_regular_file()) found.push_back(e.path());
        }
        if (ec) return IoError(field + ": " + path + ": " + ec.message());
        std::sort(found.begin(), found.end());
        if (found.empty()) return NotFound(field + ": directory " + path + " holds no files");
      } else if (fs::exists(path, ec)) {
        found.push_back(path);
      } else {
        return NotFound(field + ": " + path + ": no such file");
      }
      for (const std::string& file : found) {
        InputFile input{.path = file, .split = split, .domain = 0};
        if (config_.domain_from_folder()) {
          const std::string folder = fs::path(file).parent_path().filename().string();
          const auto it = domain_values_.find(folder);
          if (it == domain_values_.end()) {
            return InvalidArgument(field + ": " + file + ": its folder " + Quote(folder) +
                                   " is in no domain group (groups: " + group_list_ +
                                   "; csv.domain_from_folder is set)");
          }
          input.domain = it->second;
        }
        files_.push_back(std::move(input));
      }
      schema_.file_splits[split] = true;
    }
  }
  return Status::OK();
}

Status CsvSource::ReadHeader() {
  if (!config_.header()) return Status::OK();
  const std::string& first = files_[0].path;
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(first));
  std::string_view line;
  ASSIGN_OR_RETURN(const bool any, reader->Next(&line));
  if (!any) return InvalidArgument(first + ": empty file; csv.header expects a header line");
  header_line_ = std::string(line);
  if (quote_ != 0) {
    const std::string error =
        SplitQuoted(header_line_, config_.delimiter(), quote_, &fields_, &storage_);
    if (!error.empty()) return InvalidArgument(reader->Where() + ": header: " + error);
  } else {
    SplitPlain(header_line_, config_.delimiter(), &fields_);
  }
  header_.assign(fields_.begin(), fields_.end());
  if (num_columns_ == 0) num_columns_ = static_cast<int>(header_.size());
  return Status::OK();
}

StatusOr<CsvSource::Column> CsvSource::ResolveMain(const std::string& name,
                                                   const std::string& config_field,
                                                   const std::string& label) const {
  Column c;
  c.label = label + " (column " + Quote(name) + ")";
  if (config_.header()) {
    const auto it = std::find(header_.begin(), header_.end(), name);
    if (it == header_.end()) {
      return InvalidArgument(config_field + ": column " + Quote(name) +
                             " is not in the header of " + files_[0].path +
                             " (columns: " + QuotedList(header_) + ")");
    }
    c.index = static_cast<int>(it - header_.begin());
  } else {
    const std::optional<uint64_t> index = ParseUint64(name);
    if (!index || *index > (1u << 20)) {
      return InvalidArgument(config_field + ": " + Quote(name) +
                             " is not a 0-based column index (csv.header is false)");
    }
    c.index = static_cast<int>(*index);
    if (num_columns_ > 0 && c.index >= num_columns_) {
      return InvalidArgument(config_field + ": column index " + name + " not in [0, " +
                             std::to_string(num_columns_) + ") (csv.num_columns)");
    }
  }
  return c;
}

StatusOr<CsvSource::Column> CsvSource::Resolve(const std::string& name,
                                               const std::string& config_field,
                                               const std::string& label) {
  StatusOr<Column> main = ResolveMain(name, config_field, label);
  if (main.ok() || joins_.empty()) return main;
  std::vector<int> in;
  for (size_t j = 0; j < joins_.size(); ++j) {
    const std::vector<std::string>& h = joins_[j]->header();
    if (std::find(h.begin(), h.end(), name) != h.end()) in.push_back(static_cast<int>(j));
  }
  if (in.empty()) {
    std::string message = main.status().message() + "; nor in the header of";
    for (size_t j = 0; j < joins_.size(); ++j) {
      message +=
          std::string(j > 0 ? "," : "") + " " + joins_[j]->path() + " (" + joins_[j]->label() + ")";
    }
    return InvalidArgument(message);
  }
  if (in.size() > 1) {
    return InvalidArgument(config_field + ": column " + Quote(name) + " is in the headers of " +
                           joins_[in[0]]->label() + " and " + joins_[in[1]]->label() +
                           "; a column taken from a join must be in one of them");
  }
  Column c;
  c.join = in[0];
  c.index = joins_[c.join]->Keep(name);
  c.label = label + " (column " + Quote(name) + " of " + joins_[c.join]->path() + ")";
  return c;
}

Status CsvSource::Init(BadRowBudget* bad) {
  quote_ = config_.quote().empty() ? 0 : config_.quote()[0];
  num_columns_ = config_.num_columns();
  for (int g = 0; g < config_.domain_groups_size(); ++g) {
    const DomainGroup& group = config_.domain_groups(g);
    schema_.domain_names.push_back(group.name());
    group_list_ += (g > 0 ? ", " : "") + group.name();
    for (const std::string& v : group.values()) domain_values_[v] = g;
  }
  RETURN_IF_ERROR(ExpandFiles());
  RETURN_IF_ERROR(ReadHeader());
  for (int j = 0; j < config_.joins_size(); ++j) {
    const CsvJoin& join = config_.joins(j);
    const std::string field = "csv.joins[" + std::to_string(j) + "]";
    ASSIGN_OR_RETURN(std::unique_ptr<JoinTable> table,
                     JoinTable::Open(join, field, config_.delimiter(), quote_));
    ASSIGN_OR_RETURN(Column key, ResolveMain(join.key(), field + ".key", "key of " + field));
    joins_.push_back(std::move(table));
    join_keys_.push_back(std::move(key));
  }
  join_cells_.resize(joins_.size());

  if (config_.has_domain_column()) {
    ASSIGN_OR_RETURN(domain_, Resolve(config_.domain_column(), "csv.domain_column", "domain"));
    if (config_.domain_groups_size() == 0) {
      for (int d = 0; d < config_.num_domains(); ++d) {
        schema_.domain_names.push_back(config_.domain_names_size() > 0 ? config_.domain_names(d)
                                                                       : "d" + std::to_string(d));
      }
    }
  } else if (!config_.domain_from_folder()) {
    schema_.domain_names.push_back(config_.domain_names_size() > 0 ? config_.domain_names(0)
                                                                   : "all");
  }
  if (config_.has_user_column()) {
    ASSIGN_OR_RETURN(user_, Resolve(config_.user_column(), "csv.user_column", "user"));
  }
  if (config_.has_time_column()) {
    ASSIGN_OR_RETURN(time_, Resolve(config_.time_column(), "csv.time_column", "time"));
    schema_.has_time = true;
  }
  for (int t = 0; t < config_.tasks_size(); ++t) {
    const TaskSpec& spec = config_.tasks(t);
    ASSIGN_OR_RETURN(Column column,
                     Resolve(spec.column(), "csv.tasks[" + std::to_string(t) + "].column",
                             "task " + Quote(spec.name())));
    tasks_.push_back({.column = std::move(column), .op = spec.op(), .threshold = spec.threshold()});
    schema_.task_names.push_back(spec.name());
  }
  for (int s = 0; s < config_.slots_size(); ++s) {
    const SlotColumn& spec = config_.slots(s);
    ASSIGN_OR_RETURN(Column column,
                     Resolve(spec.column(), "csv.slots[" + std::to_string(s) + "].column",
                             "slot " + Quote(spec.name())));
    slots_.push_back(
        {.column = std::move(column), .separator = spec.separator(), .id_type = spec.id_type()});
    SlotSpec out;
    out.set_name(spec.name());
    if (spec.has_table()) out.set_table(spec.table());
    out.set_side(spec.side());
    out.set_pooling(spec.pooling());
    schema_.slots.push_back(std::move(out));
  }
  for (int f = 0; f < config_.dense_size(); ++f) {
    const DenseColumn& spec = config_.dense(f);
    ASSIGN_OR_RETURN(Column column,
                     Resolve(spec.column(), "csv.dense[" + std::to_string(f) + "].column",
                             "dense " + std::to_string(f)));
    dense_.push_back({.column = std::move(column),
                      .has_missing = spec.has_missing_value(),
                      .missing = spec.missing_value(),
                      .log1p = spec.log1p()});
  }
  schema_.num_dense = static_cast<int>(dense_.size());

  std::vector<const Column*> columns = {&domain_, &user_, &time_};
  for (const Task& t : tasks_) columns.push_back(&t.column);
  for (const Slot& s : slots_) columns.push_back(&s.column);
  for (const Dense& d : dense_) columns.push_back(&d.column);
  for (const Column& k : join_keys_) columns.push_back(&k);
  for (const Column* c : columns) {
    if (c->join < 0) max_index_ = std::max(max_index_, c->index);
  }
  // Last, so that a config error is reported before a large table is read.
  for (const std::unique_ptr<JoinTable>& join : joins_) RETURN_IF_ERROR(join->Load(bad));
  return Status::OK();
}

Status CsvSource::Rewind(BadRowBudget* bad) {
  bad_ = bad;
  file_index_ = 0;
  reader_.reset();
  share_.Rewind();
  rows_read_ = 0;
  rows_dropped_ = 0;
  expected_columns_ = num_columns_;
  return Status::OK();
}

StatusOr<bool> CsvSource::OpenFile() {
  reader_.reset();
  if (file_index_ >= files_.size()) return false;
  ASSIGN_OR_RETURN(reader_, LineReader::Open(files_[file_index_].path));
  if (config_.header()) {
    std::string_view line;
    ASSIGN_OR_RETURN(const bool any, reader_->Next(&line));
    if (!any) return InvalidArgument(reader_->path() + ": empty file; csv.header expects a header");
    if (line != header_line_) {
      return InvalidArgument(reader_->Where() + ": header differs from the header of " +
                             files_[0].path);
    }
  }
  return true;
}

StatusOr<bool> CsvSource::Next(Row* row) {
  CHECK(bad_ != nullptr) << "Next before Rewind";
  std::string_view line;
  while (true) {
    if (reader_ == nullptr) {
      ASSIGN_OR_RETURN(const bool opened, OpenFile());
      if (!opened) return false;
    }
    ASSIGN_OR_RETURN(const bool any, reader_->Next(&line));
    if (!any) {
      share_.Finished(*reader_);
      reader_.reset();
      ++file_index_;
      continue;
    }
    if (line.empty()) continue;
    row->ordinal = rows_read_++;
    std::string field = "columns";
    std::string problem;
    if (quote_ != 0) {
      problem = SplitQuoted(line, config_.delimiter(), quote_, &fields_, &storage_);
    } else {
      SplitPlain(line, config_.delimiter(), &fields_);
    }
    const int count = static_cast<int>(fields_.size());
    if (problem.empty() && expected_columns_ == 0) {
      // No header and no num_columns: the first data row sets the count.
      if (max_index_ >= count) {
        return InvalidArgument(reader_->Where() + ": the first row has " + std::to_string(count) +
                               " fields but the config uses column " + std::to_string(max_index_) +
                               " (set csv.num_columns if this row is the bad one)");
      }
      expected_columns_ = count;
    }
    if (problem.empty() && count != expected_columns_) {
      problem = "expected " + std::to_string(expected_columns_) + " fields separated by " +
                Quote(config_.delimiter()) + ", found " + std::to_string(count);
    }
    bool dropped = false;
    if (problem.empty() && JoinRow(&dropped, &field, &problem) &&
        ParseRow(row, &dropped, &field, &problem)) {
      return true;
    }
    if (dropped) {
      ++rows_dropped_;
      continue;
    }
    RETURN_IF_ERROR(bad_->Skip(reader_->Where(), field, problem));
  }
}

bool CsvSource::JoinRow(bool* dropped, std::string* field, std::string* problem) {
  for (size_t j = 0; j < joins_.size(); ++j) {
    const std::string_view key = fields_[join_keys_[j].index];
    switch (joins_[j]->Find(key, &join_cells_[j])) {
      case JoinTable::Match::kFound:
        continue;
      case JoinTable::Match::kBadRow:
        *dropped = true;  // the table's row was reported as bad
        return false;
      case JoinTable::Match::kMissing:
        break;
    }
    switch (joins_[j]->config().on_missing()) {
      case CsvJoin::EMPTY:
        join_cells_[j].assign(joins_[j]->num_kept(), std::string_view());
        continue;
      case CsvJoin::DROP:
        *dropped = true;
        return false;
      case CsvJoin::BAD_ROW:
        break;
    }
    *field = join_keys_[j].label;
    *problem = Quote(key) + " is not in " + joins_[j]->path() + " (" + joins_[j]->label() +
               "; on_missing: EMPTY or DROP keeps or drops such rows)";
    return false;
  }
  return true;
}

bool CsvSource::ParseRow(Row* row, bool* dropped, std::string* field, std::string* problem) {
  row->Reset(schema_);
  const auto fail = [&](const Column& c, std::string what) {
    *field = c.label;
    *problem = std::move(what);
    return false;
  };
  const InputFile& file = files_[file_index_];
  row->file_split = file.split;
  row->domain = file.domain;  // 0 unless domain_from_folder
  if (domain_.index >= 0) {
    const std::string_view v = Cell(domain_);
    if (!domain_values_.empty()) {
      const auto it = domain_values_.find(std::string(v));
      if (it == domain_values_.end()) {
        if (config_.drop_unmatched()) {
          *dropped = true;
          return false;
        }
        return fail(domain_, Quote(v) + " is in no domain group (groups: " + group_list_ +
                                 "; or set csv.drop_unmatched)");
      }
      row->domain = it->second;
    } else {
      const std::optional<int64_t> d = ParseInt64(v);
      const int64_t n = static_cast<int64_t>(schema_.domain_names.size());
      if (!d || *d < 0 || *d >= n) {
        return fail(domain_, Quote(v) + " is not a domain id in [0, " + std::to_string(n) + ")");
      }
      row->domain = static_cast<int32_t>(*d);
    }
  }
  if (user_.index >= 0) {
    const std::string_view v = Cell(user_);
    if (v.empty()) return fail(user_, "empty");
    row->user = AutoId(v);
  }
  if (time_.index >= 0) {
    const std::string_view v = Cell(time_);
    if (const std::optional<int64_t> t = ParseInt64(v)) {
      row->time = *t;
    } else if (const std::optional<double> d = ParseDouble(v); d && std::fabs(*d) < 9e18) {
      row->time = std::llround(*d);
    } else {
      return fail(time_, Quote(v) + " is not a number");
    }
  }
  for (size_t t = 0; t < tasks_.size(); ++t) {
    const Task& task = tasks_[t];
    const std::string_view v = Cell(task.column);
    if (v.empty()) continue;  // not observed
    const std::optional<double> value = ParseDouble(v);
    if (!value) return fail(task.column, Quote(v) + " is not a number");
    if (task.op == TaskSpec::BINARY && *value != 0 && *value != 1) {
      return fail(task.column, Quote(v) + " is not 0 or 1 (the task has no op)");
    }
    row->labels[t] = TaskLabel(*value, task.op, task.threshold) ? 1.0f : 0.0f;
    row->mask[t] = 1;
  }
  for (size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    const std::string_view v = Cell(slot.column);
    if (v.empty()) continue;
    if (slot.separator.empty()) {
      pieces_.assign(1, v);
    } else {
      SplitPlain(v, slot.separator, &pieces_);
    }
    for (const std::string_view piece : pieces_) {
      if (piece.empty()) continue;
      switch (slot.id_type) {
        case SlotColumn::AUTO:
          row->slots[s].push_back(AutoId(piece));
          break;
        case SlotColumn::STRING:
          row->slots[s].push_back(HashString(piece));
          break;
        case SlotColumn::INTEGER: {
          const std::optional<uint64_t> id = ParseUint64(piece);
          if (!id) {
            return fail(slot.column, Quote(piece) +
                                         " is not an id (id_type INTEGER: decimal digits, 0 to "
                                         "18446744073709551615)");
          }
          row->slots[s].push_back(*id);
          break;
        }
      }
    }
  }
  for (size_t f = 0; f < dense_.size(); ++f) {
    const Dense& dense = dense_[f];
    const std::string_view v = Cell(dense.column);
    double value = dense.missing;
    if (v.empty()) {
      if (!dense.has_missing) return fail(dense.column, "empty, and no missing_value is set");
    } else {
      const std::optional<double> parsed = ParseDouble(v);
      if (!parsed) return fail(dense.column, Quote(v) + " is not a finite number");
      value = *parsed;
      if (dense.log1p) value = std::log1p(std::max(value, 0.0));
    }
    const float stored = static_cast<float>(value);
    if (!std::isfinite(stored)) return fail(dense.column, Quote(v) + " overflows a float");
    row->dense[f] = stored;
  }
  return true;
}

}  // namespace moerec::convert
