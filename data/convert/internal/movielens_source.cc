#include "data/convert/internal/movielens_source.h"

#include <algorithm>
#include <cctype>

namespace moerec::convert {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// "Toy Story (1995)" -> 1995; 0 when the title does not end in a parenthesised year.
int64_t YearFromTitle(std::string_view title) {
  while (!title.empty() && title.back() == ' ') title.remove_suffix(1);
  if (title.size() < 6 || title.back() != ')' || title[title.size() - 6] != '(') return 0;
  return ParseInt64(title.substr(title.size() - 5, 4)).value_or(0);
}

}  // namespace

MovieLensSource::MovieLensSource(const MovieLensInput& config)
    : config_(config), files_(MovieLensFileNames(config.layout())) {
  const DomainRule& rule = config_.domain();
  if (rule.groups_size() > 0) {
    for (int g = 0; g < rule.groups_size(); ++g) {
      schema_.domain_names.push_back(rule.groups(g).name());
      for (const std::string& v : rule.groups(g).values()) domain_of_value_[v] = g;
    }
  } else {
    schema_.domain_names = DefaultDomainNames(config_.layout(), rule.field());
    const std::vector<std::string> values = DomainFieldValues(config_.layout(), rule.field());
    for (size_t d = 0; d < values.size(); ++d) domain_of_value_[values[d]] = static_cast<int>(d);
  }
  for (const TaskSpec& task : config_.tasks()) schema_.task_names.push_back(task.name());
  for (const int f : config_.features())
    features_.push_back(static_cast<MovieLensInput::Feature>(f));
  if (features_.empty()) {
    for (int f = MovieLensInput::Feature_MIN; f <= MovieLensInput::Feature_MAX; ++f) {
      features_.push_back(static_cast<MovieLensInput::Feature>(f));
    }
  }
  for (const MovieLensInput::Feature f : features_) {
    SlotSpec slot;
    slot.set_name(FeatureSlotName(f));
    const bool item_side =
        f == MovieLensInput::ITEM_ID || f == MovieLensInput::GENRES || f == MovieLensInput::YEAR;
    slot.set_side(item_side ? SIDE_ITEM : SIDE_USER);
    slot.set_pooling(f == MovieLensInput::GENRES ? POOLING_MEAN : POOLING_SUM);
    schema_.slots.push_back(std::move(slot));
  }
  schema_.has_time = true;
  ratings_path_ =
      config_.dir() + "/" + (config_.has_ratings_file() ? config_.ratings_file() : files_.ratings);
  share_ = PassShare({ratings_path_});
}

StatusOr<std::unique_ptr<MovieLensSource>> MovieLensSource::Open(const MovieLensInput& config,
                                                                 BadRowBudget* bad) {
  std::unique_ptr<MovieLensSource> source(new MovieLensSource(config));
  RETURN_IF_ERROR(source->LoadUsers(bad));
  RETURN_IF_ERROR(source->LoadItems(bad));
  // Fail now, not after the side files, when the ratings are missing.
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> probe, LineReader::Open(source->ratings_path_));
  return source;
}

template <typename T>
Status MovieLensSource::LoadSideFile(const std::string& file, const char* id_field,
                                     const char* what,
                                     bool (MovieLensSource::*parse)(int64_t*, T*, FieldError*),
                                     std::unordered_map<int64_t, T>* table,
                                     std::unordered_set<int64_t>* skipped, BadRowBudget* bad) {
  const std::string path = config_.dir() + "/" + file;
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(path));
  std::string_view line;
  while (true) {
    ASSIGN_OR_RETURN(const bool any, reader->Next(&line));
    if (!any) break;
    if (line.empty()) continue;
    SplitPlain(line, files_.separator, &fields_);
    int64_t id = -1;
    T entry;
    FieldError error;
    if ((this->*parse)(&id, &entry, &error)) {
      if (table->emplace(id, std::move(entry)).second) continue;
      // The first row of an id counts.
      error = {id_field, std::string(what) + " " + std::to_string(id) + " appears twice"};
    }
    // Ratings of a user or movie whose row is bad are dropped, not bad themselves.
    if (const std::optional<int64_t> bad_id = ParseInt64(fields_[0])) skipped->insert(*bad_id);
    RETURN_IF_ERROR(bad->Skip(reader->Where(), error.field, error.problem));
  }
  if (table->empty()) return InvalidArgument(path + ": no valid " + what + " rows");
  return Status::OK();
}

Status MovieLensSource::LoadUsers(BadRowBudget* bad) {
  return LoadSideFile(files_.users, "UserID", "user", &MovieLensSource::ParseUser, &users_,
                      &skipped_users_, bad);
}

Status MovieLensSource::LoadItems(BadRowBudget* bad) {
  return LoadSideFile(files_.items, "MovieID", "movie", &MovieLensSource::ParseItem, &items_,
                      &skipped_items_, bad);
}

bool MovieLensSource::ParseUser(int64_t* id, User* user, FieldError* error) {
  const bool ml100k = config_.layout() == MovieLensInput::ML_100K;
  const auto fail = [&](const char* field, std::string problem) {
    *error = {field, std::move(problem)};
    return false;
  };
  if (fields_.size() != 5) {
    return fail("fields", "expected 5 fields separated by " + Quote(files_.separator) + ", found " +
                              std::to_string(fields_.size()));
  }
  // 100K: id|age|gender|occupation|zip; 1M: UserID::Gender::Age::Occupation::Zip-code.
  const std::string_view id_text = fields_[0];
  const std::string_view gender = ml100k ? fields_[2] : fields_[1];
  const std::string_view age = ml100k ? fields_[1] : fields_[2];
  const std::string_view occupation = fields_[3];
  const std::optional<int64_t> parsed_id = ParseInt64(id_text);
  if (!parsed_id || *parsed_id < 0) return fail("UserID", Quote(id_text) + " is not a user id");
  *id = *parsed_id;
  if (gender != "F" && gender != "M") return fail("Gender", Quote(gender) + " is not F or M");
  user->gender = gender == "M" ? 1 : 0;
  const std::optional<int64_t> years = ParseInt64(age);
  if (ml100k) {
    if (!years || *years < 0 || *years > 150) return fail("Age", Quote(age) + " is not an age");
    user->age = AgeCode(static_cast<int>(*years));
  } else {
    const bool known = years && std::find(std::begin(kAgeCodes), std::end(kAgeCodes), *years) !=
                                    std::end(kAgeCodes);
    if (!known) return fail("Age", Quote(age) + " is not an age code (1, 18, 25, 35, 45, 50, 56)");
    user->age = *years;
  }
  std::string occupation_value;
  if (ml100k) {
    const std::vector<std::string>& words = Occupations100K();
    const auto it = std::find(words.begin(), words.end(), occupation);
    if (it == words.end())
      return fail("Occupation", Quote(occupation) + " is not a 100K occupation");
    user->occupation = it - words.begin();
    occupation_value = *it;
  } else {
    const std::optional<int64_t> code = ParseInt64(occupation);
    if (!code || *code < 0 || *code >= static_cast<int64_t>(Occupations1M().size())) {
      return fail("Occupation", Quote(occupation) + " is not an occupation code in [0, 20]");
    }
    user->occupation = *code;
    occupation_value = std::to_string(*code);
  }
  user->zip_prefix = std::string(fields_[4].substr(0, config_.zip_prefix_length()));

  std::string value;
  const char* field = "";
  switch (config_.domain().field()) {
    case DomainRule::SINGLE:
      user->domain = 0;
      return true;
    case DomainRule::GENDER:
      value = std::string(gender), field = "Gender";
      break;
    case DomainRule::AGE:
      value = std::to_string(user->age), field = "Age";
      break;
    case DomainRule::OCCUPATION:
      value = occupation_value, field = "Occupation";
      break;
  }
  const auto it = domain_of_value_.find(value);
  if (it != domain_of_value_.end()) {
    user->domain = it->second;
  } else if (!config_.domain().drop_unmatched()) {
    return fail(field, Quote(value) + " is in no domain group (groups: " +
                           Join(schema_.domain_names) + "; or set domain.drop_unmatched)");
  }
  return true;
}

bool MovieLensSource::ParseItem(int64_t* id, Item* item, FieldError* error) {
  const bool ml100k = config_.layout() == MovieLensInput::ML_100K;
  const auto fail = [&](const char* field, std::string problem) {
    *error = {field, std::move(problem)};
    return false;
  };
  const size_t genres = GenreNames().size();
  const size_t expected = ml100k ? 5 + genres : 3;
  if (fields_.size() != expected) {
    return fail("fields", "expected " + std::to_string(expected) + " fields separated by " +
                              Quote(files_.separator) + ", found " +
                              std::to_string(fields_.size()));
  }
  const std::optional<int64_t> parsed_id = ParseInt64(fields_[0]);
  if (!parsed_id || *parsed_id < 0)
    return fail("MovieID", Quote(fields_[0]) + " is not a movie id");
  *id = *parsed_id;
  if (ml100k) {
    // id|title|release date|video release date|IMDb URL|19 genre flags
    const std::string_view date = fields_[2];
    if (!date.empty()) {
      const std::optional<int64_t> year =
          date.size() >= 4 ? ParseInt64(date.substr(date.size() - 4)) : std::nullopt;
      if (!year || *year <= 0) {
        return fail("release date", Quote(date) + " does not end in a year (dd-Mon-yyyy)");
      }
      item->year = *year;
    }
    for (size_t g = 0; g < genres; ++g) {
      const std::string_view flag = fields_[5 + g];
      if (flag != "0" && flag != "1") {
        return fail("genre flags", GenreNames()[g] + ": " + Quote(flag) + " is not 0 or 1");
      }
      if (flag == "1") item->genres.push_back(g);
    }
  } else {
    // MovieID::Title::Genres, genres separated by '|'.
    item->year = YearFromTitle(fields_[1]);
    std::vector<std::string_view> names;
    SplitPlain(fields_[2], "|", &names);
    for (const std::string_view name : names) {
      if (name.empty()) continue;
      const auto it = std::find(GenreNames().begin(), GenreNames().end(), name);
      if (it == GenreNames().end()) {
        return fail("Genres",
                    Quote(name) + " is not a MovieLens genre (" + Join(GenreNames()) + ")");
      }
      item->genres.push_back(it - GenreNames().begin());
    }
  }
  return true;
}

Status MovieLensSource::Rewind(BadRowBudget* bad) {
  bad_ = bad;
  rows_read_ = 0;
  rows_dropped_ = 0;
  ASSIGN_OR_RETURN(reader_, LineReader::Open(ratings_path_));
  return Status::OK();
}

StatusOr<bool> MovieLensSource::Next(Row* row) {
  CHECK(reader_ != nullptr) << "Next before Rewind";
  std::string_view line;
  while (true) {
    ASSIGN_OR_RETURN(const bool any, reader_->Next(&line));
    if (!any) return false;
    if (line.empty()) continue;
    row->ordinal = rows_read_++;
    SplitPlain(line, files_.ratings_separator, &fields_);
    bool dropped = false;
    FieldError error;
    if (ParseRating(row, &dropped, &error)) return true;
    if (dropped) {
      ++rows_dropped_;
      continue;
    }
    RETURN_IF_ERROR(bad_->Skip(reader_->Where(), error.field, error.problem));
  }
}

bool MovieLensSource::ParseRating(Row* row, bool* dropped, FieldError* error) {
  const auto fail = [&](const char* field, std::string problem) {
    *error = {field, std::move(problem)};
    return false;
  };
  if (fields_.size() != 4) {
    return fail("fields", "expected 4 fields (user, item, rating, timestamp) separated by " +
                              Quote(files_.ratings_separator) + ", found " +
                              std::to_string(fields_.size()));
  }
  const std::optional<int64_t> user_id = ParseInt64(fields_[0]);
  if (!user_id) return fail("UserID", Quote(fields_[0]) + " is not a user id");
  const std::optional<int64_t> item_id = ParseInt64(fields_[1]);
  if (!item_id) return fail("MovieID", Quote(fields_[1]) + " is not a movie id");
  const std::optional<double> rating = ParseDouble(fields_[2]);
  if (!rating || *rating <= 0 || *rating > 5) {
    return fail("Rating", Quote(fields_[2]) + " is not a rating in (0, 5]");
  }
  const std::optional<int64_t> timestamp = ParseInt64(fields_[3]);
  if (!timestamp) return fail("Timestamp", Quote(fields_[3]) + " is not an integer");

  const auto user = users_.find(*user_id);
  const auto item = items_.find(*item_id);
  if (user == users_.end() || item == items_.end()) {
    *dropped = (user == users_.end() && skipped_users_.count(*user_id) > 0) ||
               (item == items_.end() && skipped_items_.count(*item_id) > 0);
    if (user == users_.end()) {
      return fail("UserID", "user " + std::to_string(*user_id) + " is not in " + files_.users);
    }
    return fail("MovieID", "movie " + std::to_string(*item_id) + " is not in " + files_.items);
  }
  if (user->second.domain < 0) {
    *dropped = true;
    return false;
  }
  row->Reset(schema_);
  row->domain = user->second.domain;
  row->user = static_cast<uint64_t>(*user_id);
  row->time = *timestamp;
  for (int t = 0; t < config_.tasks_size(); ++t) {
    row->labels[t] =
        TaskLabel(*rating, config_.tasks(t).op(), config_.tasks(t).threshold()) ? 1.0f : 0.0f;
    row->mask[t] = 1;
  }
  FillSlots(*user_id, user->second, *item_id, item->second, row);
  return true;
}

void MovieLensSource::FillSlots(int64_t user_id, const User& user, int64_t item_id,
                                const Item& item, Row* row) const {
  for (size_t s = 0; s < features_.size(); ++s) {
    std::vector<uint64_t>& ids = row->slots[s];
    switch (features_[s]) {
      case MovieLensInput::USER_ID:
        ids.push_back(static_cast<uint64_t>(user_id));
        break;
      case MovieLensInput::ITEM_ID:
        ids.push_back(static_cast<uint64_t>(item_id));
        break;
      case MovieLensInput::GENDER:
        ids.push_back(user.gender);
        break;
      case MovieLensInput::AGE:
        ids.push_back(user.age);
        break;
      case MovieLensInput::OCCUPATION:
        ids.push_back(user.occupation);
        break;
      case MovieLensInput::ZIP_PREFIX:
        if (!user.zip_prefix.empty()) ids.push_back(HashString(user.zip_prefix));
        break;
      case MovieLensInput::GENRES:
        ids.insert(ids.end(), item.genres.begin(), item.genres.end());
        break;
      case MovieLensInput::YEAR:
        if (item.year > 0) ids.push_back(static_cast<uint64_t>(item.year));
        break;
    }
  }
}

std::vector<Row> MovieLensSource::CorpusRows() const {
  std::vector<int64_t> ids;
  for (const auto& [id, item] : items_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<Row> rows(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    Row& row = rows[i];
    row.Reset(schema_);
    FillSlots(0, User(), ids[i], items_.at(ids[i]), &row);
    for (size_t s = 0; s < features_.size(); ++s) {
      const MovieLensInput::Feature f = features_[s];
      const bool item_side =
          f == MovieLensInput::ITEM_ID || f == MovieLensInput::GENRES || f == MovieLensInput::YEAR;
      if (!item_side) row.slots[s].clear();
    }
  }
  return rows;
}

}  // namespace moerec::convert
