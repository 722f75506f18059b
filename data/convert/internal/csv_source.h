// CsvSource: rows of CSV/TSV files mapped to samples by a CsvInput column mapping
// (proto/convert.proto), with columns taken from joined side tables where the mapping names
// them. The main files stream line by line; the join tables are held in memory (csv_join.h).
//
// Open resolves every configured column against the header (or checks the indices), then
// against the joins' headers, and fails with the config field's name when one does not exist
// (or when a file's folder is in no domain group, with domain_from_folder); then it reads the
// join tables, whose bad rows go to the budget passed to Open. While reading, a row that does
// not fit (field count, an unparsable or out-of-range value, a join key missing from its table)
// goes to the pass's BadRowBudget with file:line and the field. A row whose join key belonged to
// a bad row of the table, that a join drops (on_missing: DROP), or whose domain value is in no
// group with drop_unmatched, is dropped and counted. Empty lines are skipped and not counted.
// Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/convert/internal/csv_join.h"
#include "data/convert/internal/row_source.h"
#include "data/convert/internal/text.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

class CsvSource : public RowSource {
 public:
  // `config` must have passed ValidateConvertConfig.
  static StatusOr<std::unique_ptr<CsvSource>> Open(const CsvInput& config, BadRowBudget* bad);

  const SourceSchema& schema() const override { return schema_; }
  Status Rewind(BadRowBudget* bad) override;
  StatusOr<bool> Next(Row* row) override;
  int64_t rows_read() const override { return rows_read_; }
  int64_t rows_dropped() const override { return rows_dropped_; }
  double share_read() const override { return share_.Share(reader_.get()); }

  // Every input file in reading order: files, then validation_files, then test_files.
  struct InputFile {
    std::string path;
    int split = 0;   // 0 train (csv.files), 1 validation_files, 2 test_files
    int domain = 0;  // with domain_from_folder: the domain of the file's folder
  };
  const std::vector<InputFile>& files() const { return files_; }

 private:
  // A configured column: where its cell is and how messages name it.
  struct Column {
    int join = -1;      // -1: a column of the main files; else the index into joins_
    int index = -1;     // main: the field index; join: the position among the table's kept columns
    std::string label;  // e.g. "slot 'item' (column 'item_id')"
  };
  struct Task {
    Column column;
    TaskSpec::Op op;
    double threshold;
  };
  struct Slot {
    Column column;
    std::string separator;
    SlotColumn::IdType id_type;
  };
  struct Dense {
    Column column;
    bool has_missing;
    float missing;
    bool log1p;
  };

  explicit CsvSource(const CsvInput& config) : config_(config) {}
  Status Init(BadRowBudget* bad);
  Status ExpandFiles();
  Status ReadHeader();
  StatusOr<Column> Resolve(const std::string& name, const std::string& config_field,
                           const std::string& label);
  StatusOr<Column> ResolveMain(const std::string& name, const std::string& config_field,
                               const std::string& label) const;
  // Opens files_[file_index_] and reads its header; false when past the last file.
  StatusOr<bool> OpenFile();
  std::string_view Cell(const Column& c) const {
    return c.join < 0 ? fields_[c.index] : join_cells_[c.join][c.index];
  }
  // Looks up every join of the row in fields_: false with *dropped or the problem set when the
  // row cannot be completed.
  bool JoinRow(bool* dropped, std::string* field, std::string* problem);
  // Fills *row from fields_ and the joined cells; false with *dropped (a domain in no group,
  // drop_unmatched), or *field and *problem (a bad value), set when it gives no sample.
  bool ParseRow(Row* row, bool* dropped, std::string* field, std::string* problem);

  const CsvInput config_;
  SourceSchema schema_;
  std::vector<InputFile> files_;
  char quote_ = 0;  // 0 = no quoting
  std::string header_line_;
  std::vector<std::string> header_;
  int num_columns_ = 0;  // 0 = taken from the first data row
  int max_index_ = -1;   // the largest configured main column index

  Column domain_;                                       // index -1: no domain column
  std::unordered_map<std::string, int> domain_values_;  // empty: numeric domain ids
  std::string group_list_;                              // "a, b, c" for messages
  Column user_;
  Column time_;
  std::vector<Task> tasks_;
  std::vector<Slot> slots_;
  std::vector<Dense> dense_;
  std::vector<std::unique_ptr<JoinTable>> joins_;
  std::vector<Column> join_keys_;  // (joins) the key column of each join, in the main files

  // Pass state.
  BadRowBudget* bad_ = nullptr;
  size_t file_index_ = 0;
  std::unique_ptr<LineReader> reader_;
  PassShare share_;  // over files_
  int64_t rows_read_ = 0;
  int64_t rows_dropped_ = 0;
  int expected_columns_ = 0;
  std::vector<std::string_view> fields_;
  std::vector<std::string> storage_;
  std::vector<std::string_view> pieces_;
  std::vector<std::vector<std::string_view>> join_cells_;  // (joins) the row's joined cells
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_
