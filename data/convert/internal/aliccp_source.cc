#include "data/convert/internal/aliccp_source.h"

#include <filesystem>
#include <limits>
#include <set>

namespace moerec::convert {
namespace {

// Domains found by the scan; more means the domain field is not a scenario field.
constexpr size_t kMaxDiscoveredDomains = 256;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

AliCcpSource::AliCcpSource(const AliCcpInput& config) : config_(config) {
  for (const int p : config_.parts()) parts_.push_back(static_cast<AliCcpInput::Part>(p));
  if (parts_.empty()) parts_ = {AliCcpInput::TRAIN, AliCcpInput::TEST};
  for (const AliCcpInput::Part p : parts_)
    schema_.file_splits[p == AliCcpInput::TEST ? 2 : 0] = true;
  slots_.assign(config_.slots().begin(), config_.slots().end());
  if (slots_.empty()) slots_ = DefaultAliCcpSlots();

  for (const AliCcpField& f : AliCcpFields()) roles_[f.id];  // known, unused until assigned
  for (size_t s = 0; s < slots_.size(); ++s) {
    for (const std::string& field : slots_[s].fields()) roles_[field].slot = static_cast<int>(s);
    SlotSpec slot;
    slot.set_name(slots_[s].name());
    if (slots_[s].has_table()) slot.set_table(slots_[s].table());
    slot.set_side(slots_[s].side());
    slot.set_pooling(slots_[s].pooling());
    schema_.slots.push_back(std::move(slot));
  }
  roles_[config_.domain_field()].domain = true;
  roles_[config_.user_field()].user = true;

  for (int g = 0; g < config_.domain_groups_size(); ++g) {
    const DomainGroup& group = config_.domain_groups(g);
    schema_.domain_names.push_back(group.name());
    group_names_.push_back(group.name());
    for (const std::string& v : group.values()) domain_of_id_[*ParseUint64(v)] = g;
  }
  for (const TaskSpec& task : config_.tasks()) {
    schema_.task_names.push_back(task.name());
    task_columns_.push_back(task.column() == "click" ? 0 : 1);
  }
}

StatusOr<std::unique_ptr<AliCcpSource>> AliCcpSource::Open(const AliCcpInput& config) {
  std::unique_ptr<AliCcpSource> source(new AliCcpSource(config));
  RETURN_IF_ERROR(source->CheckFiles());
  if (config.domain_groups_size() == 0) RETURN_IF_ERROR(source->DiscoverDomains());
  std::vector<std::string> skeletons;
  for (const AliCcpInput::Part part : source->parts_) {
    skeletons.push_back(source->Path(AliCcpSkeletonFile(part)));
  }
  source->share_ = PassShare(skeletons);
  return source;
}

Status AliCcpSource::CheckFiles() const {
  for (const AliCcpInput::Part p : parts_) {
    for (const std::string& file : {AliCcpSkeletonFile(p), AliCcpCommonFile(p)}) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(Path(file), ec)) {
        return NotFound(Path(file) + ": no such file (aliccp.parts has " +
                        AliCcpInput::Part_Name(p) + ")");
      }
    }
  }
  return Status::OK();
}

Status AliCcpSource::DiscoverDomains() {
  std::set<uint64_t> ids;
  for (const AliCcpInput::Part p : parts_) {
    ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader,
                     LineReader::Open(Path(AliCcpSkeletonFile(p))));
    std::string_view line;
    while (true) {
      ASSIGN_OR_RETURN(const bool any, reader->Next(&line));
      if (!any) break;
      SplitPlain(line, ",", &fields_);
      // Bad rows are judged (and reported) when the samples are read.
      if (fields_.size() != 6 ||
          !ParseAliCcpFeatureList(fields_[5], config_.entry_separator(), config_.field_separator(),
                                  config_.value_separator(), &entries_)
               .empty()) {
        continue;
      }
      for (const AliCcpEntry& e : entries_) {
        if (e.field == config_.domain_field()) ids.insert(e.feature_id);
      }
      if (ids.size() > kMaxDiscoveredDomains) {
        return InvalidArgument("aliccp.domain_field: field " + Quote(config_.domain_field()) +
                               " takes more than " + std::to_string(kMaxDiscoveredDomains) +
                               " feature ids (" + reader->Where() +
                               "); a scenario field takes a few; give aliccp.domain_groups");
      }
    }
  }
  if (ids.empty()) {
    return InvalidArgument("aliccp.domain_field: no sample of " + config_.dir() + " has field " +
                           Quote(config_.domain_field()));
  }
  for (const uint64_t id : ids) {
    domain_of_id_[id] = static_cast<int>(schema_.domain_names.size());
    schema_.domain_names.push_back(config_.domain_field() + "_" + std::to_string(id));
  }
  group_names_ = schema_.domain_names;
  return Status::OK();
}

const AliCcpSource::FieldRole* AliCcpSource::RoleOf(std::string_view field, bool* unknown) const {
  const auto it = roles_.find(field);
  *unknown = it == roles_.end();
  if (*unknown) return nullptr;
  const FieldRole& role = it->second;
  return role.slot < 0 && !role.domain && !role.user ? nullptr : &role;
}

Status AliCcpSource::LoadCommon(int part, BadRowBudget* bad) {
  if (common_.part == part) return Status::OK();
  CommonTable table;
  table.part = part;
  const size_t num_slots = slots_.size();
  const std::string path = Path(AliCcpCommonFile(parts_[part]));
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(path));
  table.offsets.push_back(0);
  std::vector<std::vector<uint64_t>> row_ids(num_slots);
  std::string_view line;
  while (true) {
    ASSIGN_OR_RETURN(const bool any, reader->Next(&line));
    if (!any) break;
    if (line.empty()) continue;
    SplitPlain(line, ",", &fields_);
    std::string field = "fields";
    std::string problem;
    if (fields_.size() != 3) {
      problem =
          "expected 3 fields (common_feature_index, num_features, feature_list) separated "
          "by ',', found " +
          std::to_string(fields_.size());
    } else if (fields_[0].empty()) {
      field = "common_feature_index";
      problem = "empty";
    } else if (table.index.count(fields_[0]) > 0) {
      field = "common_feature_index";
      problem = Quote(fields_[0]) + " appears twice; the first row counts";
    } else {
      problem =
          ParseAliCcpFeatureList(fields_[2], config_.entry_separator(), config_.field_separator(),
                                 config_.value_separator(), &entries_);
      field = "feature_list";
      const std::optional<int64_t> n = ParseInt64(fields_[1]);
      if (problem.empty() && (!n || *n != static_cast<int64_t>(entries_.size()))) {
        field = "num_features";
        problem = Quote(fields_[1]) + " but feature_list has " + std::to_string(entries_.size()) +
                  " entries";
      }
    }
    uint64_t user = 0;
    bool has_user = false;
    for (size_t s = 0; problem.empty() && s < entries_.size(); ++s) {
      bool unknown = false;
      const FieldRole* role = RoleOf(entries_[s].field, &unknown);
      if (unknown && !config_.ignore_unknown_fields()) {
        field = "feature_list";
        problem = "entry " + std::to_string(s + 1) + ": field " + Quote(entries_[s].field) +
                  " is not an Ali-CCP field (" + AliCcpFieldList() +
                  "; or set aliccp.ignore_unknown_fields)";
      } else if (role != nullptr) {
        if (role->slot >= 0) row_ids[role->slot].push_back(entries_[s].feature_id);
        if (role->user && !has_user) {
          user = entries_[s].feature_id;
          has_user = true;
        }
      }
    }
    if (!problem.empty()) {
      for (auto& ids : row_ids) ids.clear();
      // Samples naming this row are dropped: it is reported here.
      if (fields_.size() == 3 && !fields_[0].empty() && table.index.count(fields_[0]) == 0) {
        table.bad.emplace(fields_[0]);
      }
      RETURN_IF_ERROR(bad->Skip(reader->Where(), field, problem));
      continue;
    }
    if (table.users.size() >= std::numeric_limits<uint32_t>::max()) {
      return ResourceExhausted(path + ": more than 2^32 - 1 common-feature rows");
    }
    table.index.emplace(std::string(fields_[0]), static_cast<uint32_t>(table.users.size()));
    table.users.push_back(user);
    for (auto& ids : row_ids) {
      table.ids.insert(table.ids.end(), ids.begin(), ids.end());
      table.offsets.push_back(table.ids.size());
      ids.clear();
    }
  }
  common_ = std::move(table);
  return Status::OK();
}

Status AliCcpSource::Rewind(BadRowBudget* bad) {
  bad_ = bad;
  part_index_ = 0;
  reader_.reset();
  share_.Rewind();
  rows_read_ = 0;
  rows_dropped_ = 0;
  return Status::OK();
}

StatusOr<bool> AliCcpSource::Next(Row* row) {
  CHECK(bad_ != nullptr) << "Next before Rewind";
  std::string_view line;
  while (true) {
    if (reader_ == nullptr) {
      if (part_index_ >= parts_.size()) return false;
      RETURN_IF_ERROR(LoadCommon(static_cast<int>(part_index_), bad_));
      ASSIGN_OR_RETURN(reader_, LineReader::Open(Path(AliCcpSkeletonFile(parts_[part_index_]))));
    }
    ASSIGN_OR_RETURN(const bool any, reader_->Next(&line));
    if (!any) {
      share_.Finished(*reader_);
      reader_.reset();
      ++part_index_;
      continue;
    }
    if (line.empty()) continue;
    row->ordinal = rows_read_++;
    SplitPlain(line, ",", &fields_);
    bool dropped = false;
    std::string field, problem;
    if (ParseSample(row, &dropped, &field, &problem)) return true;
    if (dropped) {
      ++rows_dropped_;
      continue;
    }
    RETURN_IF_ERROR(bad_->Skip(reader_->Where(), field, problem));
  }
}

bool AliCcpSource::ParseSample(Row* row, bool* dropped, std::string* field, std::string* problem) {
  const auto fail = [&](std::string f, std::string p) {
    *field = std::move(f);
    *problem = std::move(p);
    return false;
  };
  if (fields_.size() != 6) {
    return fail("fields",
                "expected 6 fields (sample_id, click, conversion, common_feature_index, "
                "num_features, feature_list) separated by ',', found " +
                    std::to_string(fields_.size()));
  }
  float labels[2];
  const char* names[2] = {"click", "conversion"};
  for (int c = 0; c < 2; ++c) {
    const std::string_view v = fields_[1 + c];
    if (v != "0" && v != "1") return fail(names[c], Quote(v) + " is not 0 or 1");
    labels[c] = v == "1" ? 1.0f : 0.0f;
  }
  const std::string error =
      ParseAliCcpFeatureList(fields_[5], config_.entry_separator(), config_.field_separator(),
                             config_.value_separator(), &entries_);
  if (!error.empty()) return fail("feature_list", error);
  const std::optional<int64_t> n = ParseInt64(fields_[4]);
  if (!n || *n != static_cast<int64_t>(entries_.size())) {
    return fail("num_features", Quote(fields_[4]) + " but feature_list has " +
                                    std::to_string(entries_.size()) + " entries");
  }
  const std::string_view common_index = fields_[3];
  const auto common = common_.index.find(common_index);
  if (common == common_.index.end()) {
    if (common_.bad.find(common_index) != common_.bad.end()) {
      *dropped = true;  // its common row was reported as bad
      return false;
    }
    return fail("common_feature_index",
                Quote(common_index) + " is not in " + AliCcpCommonFile(parts_[part_index_]));
  }

  row->Reset(schema_);
  row->file_split = parts_[part_index_] == AliCcpInput::TEST ? 2 : 0;
  int domain_entries = 0;
  uint64_t domain_id = 0;
  bool has_user = false;
  row->user = 0;
  for (size_t e = 0; e < entries_.size(); ++e) {
    bool unknown = false;
    const FieldRole* role = RoleOf(entries_[e].field, &unknown);
    if (unknown && !config_.ignore_unknown_fields()) {
      return fail("feature_list", "entry " + std::to_string(e + 1) + ": field " +
                                      Quote(entries_[e].field) + " is not an Ali-CCP field (" +
                                      AliCcpFieldList() + "; or set aliccp.ignore_unknown_fields)");
    }
    if (role == nullptr) continue;
    const uint64_t id = entries_[e].feature_id;
    if (role->slot >= 0) row->slots[role->slot].push_back(id);
    if (role->domain) {
      ++domain_entries;
      domain_id = id;
    }
    if (role->user && !has_user) {
      row->user = id;
      has_user = true;
    }
  }
  const std::string& domain_field = config_.domain_field();
  if (domain_entries != 1) {
    return fail(domain_field, domain_entries == 0
                                  ? "missing from feature_list (the domain field)"
                                  : std::to_string(domain_entries) +
                                        " entries in feature_list; the domain field takes one");
  }
  const auto domain = domain_of_id_.find(domain_id);
  if (domain == domain_of_id_.end()) {
    if (config_.drop_unmatched()) {
      *dropped = true;
      return false;
    }
    return fail(domain_field, "feature id " + std::to_string(domain_id) +
                                  " is in no domain group (groups: " + Join(group_names_) +
                                  "; or set aliccp.drop_unmatched)");
  }
  if (config_.drop_unclicked_conversions() && labels[0] == 0 && labels[1] == 1) {
    *dropped = true;
    return false;
  }
  row->domain = domain->second;
  const size_t r = common->second;
  const size_t num_slots = slots_.size();
  for (size_t s = 0; s < num_slots; ++s) {
    const uint64_t begin = common_.offsets[r * num_slots + s];
    const uint64_t end = common_.offsets[r * num_slots + s + 1];
    row->slots[s].insert(row->slots[s].end(), common_.ids.begin() + begin,
                         common_.ids.begin() + end);
  }
  if (!has_user) row->user = common_.users[r];
  for (size_t t = 0; t < task_columns_.size(); ++t) {
    const TaskSpec& task = config_.tasks(static_cast<int>(t));
    row->labels[t] = TaskLabel(labels[task_columns_[t]], task.op(), task.threshold()) ? 1.0f : 0.0f;
    row->mask[t] = 1;
  }
  return true;
}

}  // namespace moerec::convert
