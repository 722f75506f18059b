// JoinTable: a CSV side table (CsvJoin in proto/convert.proto) held in memory by its key, so that
// the rows of the main files can take columns from it (KuaiRand: user and video features onto
// the interaction log).
//
// Open reads the header; the caller names the columns it uses with Keep; Load reads every row
// and keeps only those columns. Memory: the kept cells as text in one arena, 4 bytes of offset
// per kept cell, 8 bytes per row, and the key index (a hash map from the key text, about 80 bytes
// per row). A row with another field count than the header, an empty key or a key seen before
// (the first row of a key counts) is a bad row of the table; its key, when readable, is
// remembered, so that main rows naming it can be dropped rather than reported again.
// Thread-compatible: Find may run concurrently once Load has returned.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_CSV_JOIN_H_
#define MOEREC_DATA_CONVERT_INTERNAL_CSV_JOIN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "data/convert/internal/bad_rows.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

class JoinTable {
 public:
  // `label` names the table in messages ("csv.joins[1]"); `delimiter` and `quote` (0 = none)
  // are the main files'. NotFound when the file does not exist; InvalidArgument when it has no
  // header or the header lacks the key column.
  static StatusOr<std::unique_ptr<JoinTable>> Open(const CsvJoin& config, const std::string& label,
                                                   const std::string& delimiter, char quote);

  const std::vector<std::string>& header() const { return header_; }
  // Keeps column `name` and returns its position among the kept columns (the same position
  // when asked twice); -1 when the header has no such column. Before Load only.
  int Keep(const std::string& name);
  // Reads the rows; bad ones go to *bad, and an exhausted budget stops with its error.
  Status Load(BadRowBudget* bad);

  enum class Match {
    kFound,    // *cells holds the row's kept cells, in Keep order
    kMissing,  // no row has this key
    kBadRow,   // the key's row was bad (already reported)
  };
  // Looks up `key`. *cells points into the table and stays valid while the table lives.
  Match Find(std::string_view key, std::vector<std::string_view>* cells) const;

  const CsvJoin& config() const { return config_; }
  const std::string& label() const { return label_; }
  const std::string& path() const { return config_.file(); }
  int num_kept() const { return static_cast<int>(kept_.size()); }
  int64_t num_rows() const { return static_cast<int64_t>(row_start_.size()); }

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using KeySet = std::unordered_set<std::string, KeyHash, std::equal_to<>>;

  JoinTable(const CsvJoin& config, std::string label, std::string delimiter, char quote)
      : config_(config),
        label_(std::move(label)),
        delimiter_(std::move(delimiter)),
        quote_(quote) {}
  // Splits `line` into fields_ (quote-aware); an error message, empty when fine.
  std::string Split(std::string_view line);

  const CsvJoin config_;
  const std::string label_;
  const std::string delimiter_;
  const char quote_;
  std::vector<std::string> header_;
  int key_index_ = -1;     // in the header
  std::vector<int> kept_;  // header indices of the kept columns, in Keep order
  bool loaded_ = false;

  std::string arena_;                // the kept cells of every row, back to back
  std::vector<uint64_t> row_start_;  // (rows) offset of each row's first cell in arena_
  std::vector<uint32_t> cell_end_;   // (rows * kept) end of each cell, from its row start
  std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>> index_;  // key -> row
  KeySet bad_keys_;                                                            // keys of bad rows

  std::vector<std::string_view> fields_;  // scratch
  std::vector<std::string> storage_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_CSV_JOIN_H_
