// MovieLensSource: the MovieLens 100K (u.data, u.user, u.item) and 1M (ratings.dat,
// users.dat, movies.dat) layouts as samples — one per rating — with the domain from a user
// field (DomainRule), tasks from rating thresholds and the configured user/item features as
// slots (proto/convert.proto MovieLensInput).
//
// Open reads the users and items files into memory (a few thousand rows); their bad rows go to
// the budget passed to Open. Ratings stream. A rating whose user or item is absent from its
// file is a bad row; one whose user or item row was bad, or whose user is in no domain with
// drop_unmatched, is dropped and counted (its cause was already judged). Bytes are not decoded,
// so Latin-1 titles are fine. Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_SOURCE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_SOURCE_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "data/convert/internal/movielens_layout.h"
#include "data/convert/internal/row_source.h"
#include "data/convert/internal/text.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

class MovieLensSource : public RowSource {
 public:
  // `config` must have passed ValidateConvertConfig.
  static StatusOr<std::unique_ptr<MovieLensSource>> Open(const MovieLensInput& config,
                                                         BadRowBudget* bad);

  const SourceSchema& schema() const override { return schema_; }
  Status Rewind(BadRowBudget* bad) override;
  StatusOr<bool> Next(Row* row) override;
  int64_t rows_read() const override { return rows_read_; }
  double share_read() const override { return share_.Share(reader_.get()); }
  int64_t rows_dropped() const override { return rows_dropped_; }

  int64_t num_users() const { return static_cast<int64_t>(users_.size()); }
  int64_t num_items() const { return static_cast<int64_t>(items_.size()); }
  // The corpus: one row per movie of the items file (bad ones left out), in id order, with
  // only the item-side features set; domain 0, user 0, every label unobserved.
  std::vector<Row> CorpusRows() const;

 private:
  struct User {
    int32_t domain = -1;  // -1: in no domain group (drop_unmatched)
    uint64_t gender = 0;  // 0 = F, 1 = M
    uint64_t age = 0;     // age code
    uint64_t occupation = 0;
    std::string zip_prefix;
  };
  struct Item {
    std::vector<uint64_t> genres;
    int64_t year = 0;  // 0 = unknown
  };
  // A bad field of a row: its name and what is wrong.
  struct FieldError {
    std::string field;
    std::string problem;
  };

  explicit MovieLensSource(const MovieLensInput& config);
  Status LoadUsers(BadRowBudget* bad);
  Status LoadItems(BadRowBudget* bad);
  // Reads a side file of one row per user or movie into *table by id; a bad row, or an id seen
  // before, goes to the bad-row budget and its id (when readable) to *skipped.
  template <typename T>
  Status LoadSideFile(const std::string& file, const char* id_field, const char* what,
                      bool (MovieLensSource::*parse)(int64_t*, T*, FieldError*),
                      std::unordered_map<int64_t, T>* table, std::unordered_set<int64_t>* skipped,
                      BadRowBudget* bad);
  // Parse one row of each file from fields_; false with *error set on a bad field.
  bool ParseUser(int64_t* id, User* user, FieldError* error);
  bool ParseItem(int64_t* id, Item* item, FieldError* error);
  bool ParseRating(Row* row, bool* dropped, FieldError* error);
  void FillSlots(int64_t user_id, const User& user, int64_t item_id, const Item& item,
                 Row* row) const;

  const MovieLensInput config_;
  const MovieLensFiles files_;
  SourceSchema schema_;
  std::vector<MovieLensInput::Feature> features_;         // one per slot
  std::unordered_map<std::string, int> domain_of_value_;  // raw field value -> domain
  std::unordered_map<int64_t, User> users_;
  std::unordered_map<int64_t, Item> items_;
  std::unordered_set<int64_t> skipped_users_;  // ids of bad user rows
  std::unordered_set<int64_t> skipped_items_;
  std::string ratings_path_;

  PassShare share_;  // over the ratings file

  // Pass state.
  BadRowBudget* bad_ = nullptr;
  std::unique_ptr<LineReader> reader_;
  int64_t rows_read_ = 0;
  int64_t rows_dropped_ = 0;
  std::vector<std::string_view> fields_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_MOVIELENS_SOURCE_H_
