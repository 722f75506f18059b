// Loading and validating ConvertConfig (declared in convert.h).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "data/convert/convert.h"
#include "data/convert/internal/aliccp_layout.h"
#include "data/convert/internal/movielens_layout.h"
#include "data/convert/internal/text.h"
#include "data/shard.h"
#include "proto/text_config.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;
using convert::DomainFieldValues;

Status Bad(const std::string& field, const std::string& problem) {
  return InvalidArgument(field + ": " + problem);
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string At(const std::string& field, int i) { return field + "[" + std::to_string(i) + "]"; }

// Domain, task and slot names become metric keys and file names in a job (proto/text_config).
Status CheckName(const std::string& field, const std::string& name) {
  if (name.empty()) return Bad(field, "required");
  if (name.find('/') != std::string::npos) {
    return Bad(field, "'" + name + "' must not contain '/' (names become metric keys)");
  }
  return Status::OK();
}

enum class Input { kCsv, kMovieLens, kAliCcp };

Status CheckTasks(const google::protobuf::RepeatedPtrField<TaskSpec>& tasks,
                  const std::string& prefix, Input input) {
  if (tasks.empty()) return Bad(prefix, "at least one task is required");
  std::set<std::string> names;
  for (int t = 0; t < tasks.size(); ++t) {
    const TaskSpec& task = tasks[t];
    const std::string field = At(prefix, t);
    RETURN_IF_ERROR(CheckName(field + ".name", task.name()));
    if (!names.insert(task.name()).second) {
      return Bad(field + ".name", "'" + task.name() + "' names two tasks");
    }
    if (!std::isfinite(task.threshold())) return Bad(field + ".threshold", "must be finite");
    if (input == Input::kCsv && task.column().empty()) {
      return Bad(field + ".column", "required for CSV input");
    }
    if (input == Input::kAliCcp && task.column() != "click" && task.column() != "conversion") {
      return Bad(field + ".column", "'" + task.column() + "' is not an Ali-CCP label (allowed: " +
                                        "click, conversion)");
    }
    if (input == Input::kMovieLens && task.has_column()) {
      return Bad(field + ".column", "not used for MovieLens (tasks compare the rating)");
    }
    if (input == Input::kMovieLens && task.op() == TaskSpec::BINARY) {
      return Bad(field + ".op", "required for MovieLens ratings: one of GT, GE, EQ, LE, LT, NE");
    }
  }
  return Status::OK();
}

// Group names unique and non-empty, values non-empty, no value in two groups, and (when
// `allowed` is non-empty) every value among `allowed`.
Status CheckGroups(const google::protobuf::RepeatedPtrField<DomainGroup>& groups,
                   const std::string& prefix, const std::vector<std::string>& allowed,
                   const std::string& allowed_what) {
  std::set<std::string> names;
  std::set<std::string> values;
  const std::set<std::string> ok(allowed.begin(), allowed.end());
  for (int g = 0; g < groups.size(); ++g) {
    const std::string field = At(prefix, g);
    RETURN_IF_ERROR(CheckName(field + ".name", groups[g].name()));
    if (!names.insert(groups[g].name()).second) {
      return Bad(field + ".name", "'" + groups[g].name() + "' names two groups");
    }
    if (groups[g].values().empty()) return Bad(field + ".values", "at least one value");
    for (int v = 0; v < groups[g].values_size(); ++v) {
      const std::string& value = groups[g].values(v);
      if (!ok.empty() && ok.count(value) == 0) {
        return Bad(At(field + ".values", v),
                   "'" + value + "' is not " + allowed_what + " (allowed: " + Join(allowed) + ")");
      }
      if (!values.insert(value).second) {
        return Bad(At(field + ".values", v), "'" + value + "' is in two groups");
      }
    }
  }
  return Status::OK();
}

Status CheckCsv(const CsvInput& csv, const SplitConfig& split) {
  if (csv.files().empty()) return Bad("csv.files", "at least one file or directory");
  if (csv.delimiter().empty()) return Bad("csv.delimiter", "must not be empty");
  if (csv.quote().size() > 1) return Bad("csv.quote", "one character, or \"\" for no quoting");
  if (!csv.quote().empty() && csv.delimiter().find(csv.quote()[0]) != std::string::npos) {
    return Bad("csv.quote", "must not appear in csv.delimiter");
  }
  if (csv.num_columns() < 0) return Bad("csv.num_columns", "must be >= 0 (0 = from the data)");
  if (csv.domain_from_folder()) {
    if (csv.has_domain_column()) {
      return Bad("csv.domain_from_folder", "not with csv.domain_column: one source of domains");
    }
    if (csv.domain_groups_size() == 0) {
      return Bad("csv.domain_groups", "required with domain_from_folder: folder names per domain");
    }
    RETURN_IF_ERROR(CheckGroups(csv.domain_groups(), "csv.domain_groups", {}, ""));
    if (csv.num_domains() != 0 && csv.num_domains() != csv.domain_groups_size()) {
      return Bad("csv.num_domains", "must be 0 or the number of domain_groups");
    }
    if (csv.domain_names_size() > 0) {
      return Bad("csv.domain_names", "not used with domain_groups (the groups are named)");
    }
  } else if (csv.has_domain_column()) {
    if (csv.domain_column().empty()) return Bad("csv.domain_column", "must not be empty");
    if (csv.domain_groups_size() > 0) {
      RETURN_IF_ERROR(CheckGroups(csv.domain_groups(), "csv.domain_groups", {}, ""));
      if (csv.num_domains() != 0 && csv.num_domains() != csv.domain_groups_size()) {
        return Bad("csv.num_domains", "must be 0 or the number of domain_groups");
      }
      if (csv.domain_names_size() > 0) {
        return Bad("csv.domain_names", "not used with domain_groups (the groups are named)");
      }
    } else {
      if (csv.num_domains() < 1) {
        return Bad("csv.num_domains",
                   "required (>= 1) for a numeric domain column; or give domain_groups");
      }
      if (csv.domain_names_size() != 0 && csv.domain_names_size() != csv.num_domains()) {
        return Bad("csv.domain_names", "must have num_domains entries, or none");
      }
    }
  } else {
    if (csv.domain_groups_size() > 0) {
      return Bad("csv.domain_groups", "needs csv.domain_column or csv.domain_from_folder");
    }
    if (csv.num_domains() > 1) return Bad("csv.num_domains", "> 1 needs csv.domain_column");
    if (csv.domain_names_size() > 1)
      return Bad("csv.domain_names", "at most one without domain_column");
  }
  for (int d = 0; d < csv.domain_names_size(); ++d) {
    RETURN_IF_ERROR(CheckName(At("csv.domain_names", d), csv.domain_names(d)));
  }
  RETURN_IF_ERROR(CheckTasks(csv.tasks(), "csv.tasks", Input::kCsv));
  if (csv.slots().empty() && csv.dense().empty()) {
    return Bad("csv.slots", "the data has no features: give at least one slot or dense column");
  }
  if (csv.has_user_column() && csv.user_column().empty()) {
    return Bad("csv.user_column", "must not be empty");
  }
  if (csv.has_time_column() && csv.time_column().empty()) {
    return Bad("csv.time_column", "must not be empty");
  }
  std::set<std::string> names;
  for (int s = 0; s < csv.slots_size(); ++s) {
    const SlotColumn& slot = csv.slots(s);
    const std::string field = At("csv.slots", s);
    RETURN_IF_ERROR(CheckName(field + ".name", slot.name()));
    if (!names.insert(slot.name()).second) {
      return Bad(field + ".name", "'" + slot.name() + "' names two slots");
    }
    if (slot.column().empty()) return Bad(field + ".column", "required");
  }
  for (int f = 0; f < csv.dense_size(); ++f) {
    if (csv.dense(f).column().empty()) return Bad(At("csv.dense", f) + ".column", "required");
  }
  if (csv.drop_unmatched() && (!csv.has_domain_column() || csv.domain_groups_size() == 0)) {
    return Bad("csv.drop_unmatched", "needs csv.domain_column and csv.domain_groups");
  }
  for (int j = 0; j < csv.joins_size(); ++j) {
    const CsvJoin& join = csv.joins(j);
    const std::string field = At("csv.joins", j);
    if (join.file().empty()) return Bad(field + ".file", "required");
    if (join.key().empty()) return Bad(field + ".key", "required: the key column of csv.files");
    if (join.has_file_key() && join.file_key().empty()) {
      return Bad(field + ".file_key", "must not be empty (unset: the same name as key)");
    }
  }
  if (split.method() == SplitConfig::BY_TIME && !csv.has_time_column()) {
    return Bad("split.method", "BY_TIME needs csv.time_column");
  }
  return Status::OK();
}

Status CheckMovieLens(const MovieLensInput& ml) {
  if (ml.dir().empty()) return Bad("movielens.dir", "required: the folder holding the files");
  if (ml.has_ratings_file() && ml.ratings_file().empty()) {
    return Bad("movielens.ratings_file", "must not be empty");
  }
  if (ml.zip_prefix_length() < 1) return Bad("movielens.zip_prefix_length", "must be >= 1");
  if (ml.write_items() && !ml.features().empty() &&
      std::find(ml.features().begin(), ml.features().end(), MovieLensInput::ITEM_ID) ==
          ml.features().end()) {
    return Bad("movielens.write_items",
               "needs ITEM_ID among movielens.features (the corpus is "
               "keyed by the item id)");
  }
  RETURN_IF_ERROR(CheckTasks(ml.tasks(), "movielens.tasks", Input::kMovieLens));
  const DomainRule& rule = ml.domain();
  if (rule.field() == DomainRule::SINGLE && rule.groups_size() > 0) {
    return Bad("movielens.domain.groups", "need a field (GENDER, AGE or OCCUPATION)");
  }
  const std::string what = "a valid " + DomainRule::Field_Name(rule.field()) + " value for " +
                           MovieLensInput::Layout_Name(ml.layout());
  RETURN_IF_ERROR(CheckGroups(rule.groups(), "movielens.domain.groups",
                              DomainFieldValues(ml.layout(), rule.field()), what));
  std::set<int> features;
  for (int f = 0; f < ml.features_size(); ++f) {
    if (!features.insert(ml.features(f)).second) {
      return Bad(At("movielens.features", f),
                 MovieLensInput::Feature_Name(ml.features(f)) + " is listed twice");
    }
  }
  return Status::OK();
}

// Separators of an Ali-CCP feature list: non-empty, distinct, none inside another or the ','
// between a skeleton's fields.
Status CheckAliCcpSeparators(const AliCcpInput& a) {
  const std::pair<const char*, const std::string*> seps[] = {
      {"aliccp.entry_separator", &a.entry_separator()},
      {"aliccp.field_separator", &a.field_separator()},
      {"aliccp.value_separator", &a.value_separator()}};
  for (const auto& [name, sep] : seps) {
    if (sep->empty()) return Bad(name, "must not be empty");
    if (sep->find(',') != std::string::npos) {
      return Bad(name, "must not contain ',' (it separates the files' fields)");
    }
    for (const auto& [other_name, other] : seps) {
      if (other != sep && other->find(*sep) != std::string::npos) {
        return Bad(name, std::string("appears in ") + other_name + "; the three must differ");
      }
    }
  }
  return Status::OK();
}

Status CheckAliCcp(const AliCcpInput& a, const SplitConfig& split) {
  if (a.dir().empty()) return Bad("aliccp.dir", "required: the folder holding the files");
  std::set<int> parts;
  for (int p = 0; p < a.parts_size(); ++p) {
    if (!parts.insert(a.parts(p)).second) {
      return Bad(At("aliccp.parts", p), AliCcpInput::Part_Name(a.parts(p)) + " is listed twice");
    }
  }
  RETURN_IF_ERROR(CheckTasks(a.tasks(), "aliccp.tasks", Input::kAliCcp));
  const bool any_field = a.ignore_unknown_fields();
  const std::string fields = "an Ali-CCP field (allowed: " + convert::AliCcpFieldList() +
                             "; or set aliccp.ignore_unknown_fields)";
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"aliccp.domain_field", &a.domain_field()},
        {"aliccp.user_field", &a.user_field()}}) {
    if (value->empty()) return Bad(name, "must not be empty");
    if (!any_field && !convert::IsAliCcpField(*value)) {
      return Bad(name, "'" + *value + "' is not " + fields);
    }
  }
  RETURN_IF_ERROR(CheckGroups(a.domain_groups(), "aliccp.domain_groups", {}, ""));
  for (int g = 0; g < a.domain_groups_size(); ++g) {
    for (int v = 0; v < a.domain_groups(g).values_size(); ++v) {
      const std::string& value = a.domain_groups(g).values(v);
      if (!convert::ParseUint64(value)) {
        return Bad(At(At("aliccp.domain_groups", g) + ".values", v),
                   "'" + value + "' is not a feature id (decimal digits) of " + a.domain_field());
      }
    }
  }
  if (a.drop_unmatched() && a.domain_groups_size() == 0) {
    return Bad("aliccp.drop_unmatched", "needs domain_groups (without them every value of " +
                                            a.domain_field() + " is a domain)");
  }
  std::set<std::string> names, slot_fields;
  for (int s = 0; s < a.slots_size(); ++s) {
    const AliCcpSlot& slot = a.slots(s);
    const std::string field = At("aliccp.slots", s);
    RETURN_IF_ERROR(CheckName(field + ".name", slot.name()));
    if (!names.insert(slot.name()).second) {
      return Bad(field + ".name", "'" + slot.name() + "' names two slots");
    }
    if (slot.fields().empty()) return Bad(field + ".fields", "at least one Ali-CCP field");
    for (int f = 0; f < slot.fields_size(); ++f) {
      const std::string& id = slot.fields(f);
      if (id.empty()) return Bad(At(field + ".fields", f), "must not be empty");
      if (!any_field && !convert::IsAliCcpField(id)) {
        return Bad(At(field + ".fields", f), "'" + id + "' is not " + fields);
      }
      if (!slot_fields.insert(id).second) {
        return Bad(At(field + ".fields", f), "field " + id + " is in two slots");
      }
    }
  }
  RETURN_IF_ERROR(CheckAliCcpSeparators(a));
  if (split.method() == SplitConfig::BY_TIME) {
    return Bad("split.method", "BY_TIME needs a time; Ali-CCP samples have none");
  }
  return Status::OK();
}

// Whether `path` is `dir` or lies inside it (symbolic links resolved where they exist).
bool IsInside(const std::string& path, const std::string& dir) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path), ec).lexically_normal();
  const fs::path d = fs::weakly_canonical(fs::absolute(dir), ec).lexically_normal();
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++pi) {
    if (di->empty()) continue;  // a trailing separator
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

// The converter replaces output_dir whole: an input inside it would be deleted with the
// previous output.
Status CheckInputsOutsideOutput(const ConvertConfig& config) {
  std::vector<std::string> inputs;
  if (config.has_csv()) {
    const CsvInput& csv = config.csv();
    for (const auto* list : {&csv.files(), &csv.validation_files(), &csv.test_files()}) {
      inputs.insert(inputs.end(), list->begin(), list->end());
    }
    for (const CsvJoin& join : csv.joins()) inputs.push_back(join.file());
  }
  if (config.has_movielens()) inputs.push_back(config.movielens().dir());
  if (config.has_aliccp()) inputs.push_back(config.aliccp().dir());
  for (const std::string& input : inputs) {
    if (IsInside(input, config.output_dir())) {
      return Bad("output_dir", "\"" + config.output_dir() + "\" holds the input " + input +
                                   ", which replacing the output would delete; write the "
                                   "output somewhere else");
    }
  }
  return Status::OK();
}

}  // namespace

Status ValidateConvertConfig(const ConvertConfig& config) {
  const SplitConfig& split = config.split();
  switch (config.input_case()) {
    case ConvertConfig::kCsv:
      RETURN_IF_ERROR(CheckCsv(config.csv(), split));
      break;
    case ConvertConfig::kMovielens:
      RETURN_IF_ERROR(CheckMovieLens(config.movielens()));
      break;
    case ConvertConfig::kAliccp:
      RETURN_IF_ERROR(CheckAliCcp(config.aliccp(), split));
      break;
    case ConvertConfig::INPUT_NOT_SET:
      return Bad("input", "set one of csv { ... }, movielens { ... } or aliccp { ... }");
  }
  if (config.output_dir().empty()) return Bad("output_dir", "required");
  RETURN_IF_ERROR(CheckInputsOutsideOutput(config));
  if (config.samples_per_shard() < 1) return Bad("samples_per_shard", "must be >= 1");
  if (config.block_samples() < 1 ||
      static_cast<uint32_t>(config.block_samples()) > kMaxBlockSamples) {
    return Bad("block_samples", "must be in [1, " + std::to_string(kMaxBlockSamples) + "]");
  }
  if (config.bad_row_budget() < 0)
    return Bad("bad_row_budget", "must be >= 0 (0 = stop at the first)");
  if (config.bad_rows_logged() < 0) return Bad("bad_rows_logged", "must be >= 0");
  if (split.method() == SplitConfig::BY_FILE) {
    if (config.has_movielens()) {
      return Bad("split.method",
                 "BY_FILE needs an input with split files (csv.test_files, "
                 "csv.validation_files, aliccp); MovieLens has none");
    }
    for (const auto& [set, name] :
         {std::pair{split.has_train(), "split.train"}, std::pair{split.has_test(), "split.test"}}) {
      if (set) {
        return Bad(name,
                   "not used with BY_FILE (the files decide; split.validation is the "
                   "share of the train files' rows moved to validation)");
      }
    }
    if (!(split.validation() >= 0 && split.validation() < 1)) {
      return Bad("split.validation", "must be in [0, 1) with BY_FILE");
    }
    if (split.per_domain()) {
      return Bad("split.per_domain", "applies to EXACT_RANDOM and BY_TIME");
    }
    return Status::OK();
  }
  const double fractions[] = {split.train(), split.validation(), split.test()};
  const char* names[] = {"split.train", "split.validation", "split.test"};
  for (int i = 0; i < 3; ++i) {
    if (!(fractions[i] >= 0 && fractions[i] <= 1)) return Bad(names[i], "must be in [0, 1]");
  }
  const double sum = fractions[0] + fractions[1] + fractions[2];
  if (std::fabs(sum - 1) > 1e-6) {
    return Bad("split", "train + validation + test = " + std::to_string(sum) + "; must be 1");
  }
  if (split.per_domain() && split.method() == SplitConfig::RANDOM) {
    return Bad("split.per_domain",
               "applies to EXACT_RANDOM and BY_TIME (RANDOM splits each row independently, "
               "so every domain already gets the fractions in expectation)");
  }
  return Status::OK();
}

namespace {

StatusOr<ConvertConfig> ResolveAndValidate(ConvertConfig config, const std::string& source_name,
                                           const std::string& base_dir) {
  if (!base_dir.empty()) {
    if (config.has_csv()) {
      CsvInput* csv = config.mutable_csv();
      for (auto* list :
           {csv->mutable_files(), csv->mutable_validation_files(), csv->mutable_test_files()}) {
        for (std::string& f : *list) f = ResolvePath(base_dir, f);
      }
      for (CsvJoin& join : *csv->mutable_joins()) {
        if (!join.file().empty()) join.set_file(ResolvePath(base_dir, join.file()));
      }
    }
    if (config.has_movielens()) {
      config.mutable_movielens()->set_dir(ResolvePath(base_dir, config.movielens().dir()));
    }
    if (config.has_aliccp() && !config.aliccp().dir().empty()) {
      config.mutable_aliccp()->set_dir(ResolvePath(base_dir, config.aliccp().dir()));
    }
    if (config.has_output_dir()) config.set_output_dir(ResolvePath(base_dir, config.output_dir()));
  }
  RETURN_IF_ERROR(ValidateConvertConfig(config).WithContext(source_name));
  return config;
}

}  // namespace

StatusOr<ConvertConfig> ParseConvertConfig(const std::string& text, const std::string& source_name,
                                           const std::string& base_dir) {
  ConvertConfig config;
  RETURN_IF_ERROR(ParseTextProto(text, source_name, &config));
  return ResolveAndValidate(std::move(config), source_name, base_dir);
}

StatusOr<ConvertConfig> LoadConvertConfig(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path + ": no such config file");
  ConvertConfig config;
  RETURN_IF_ERROR(ParseTextProtoFile(path, &config));
  const std::string dir = fs::path(path).parent_path().string();
  return ResolveAndValidate(std::move(config), path, dir.empty() ? "." : dir);
}

}  // namespace moerec
