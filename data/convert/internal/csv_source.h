// CsvSource: rows of CSV/TSV files mapped to samples by a CsvInput column mapping
// (proto/convert.proto). Files stream line by line; nothing but the current line is held.
//
// Open resolves every configured column against the header (or checks the indices) and fails
// with the config field's name when one does not exist, and when a file's folder is in no
// domain group (domain_from_folder). While reading, a row that does not fit
// (field count, an unparsable or out-of-range value) goes to the pass's BadRowBudget with
// file:line and the field. Empty lines are skipped and not counted. Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/convert/internal/row_source.h"
#include "data/convert/internal/text.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

class CsvSource : public RowSource {
 public:
  // `config` must have passed ValidateConvertConfig.
  static StatusOr<std::unique_ptr<CsvSource>> Open(const CsvInput& config);

  const SourceSchema& schema() const override { return schema_; }
  Status Rewind(BadRowBudget* bad) override;
  StatusOr<bool> Next(Row* row) override;
  int64_t rows_read() const override { return rows_read_; }

  // Every input file in reading order: files, then validation_files, then test_files.
  struct InputFile {
    std::string path;
    int split = 0;   // 0 train (csv.files), 1 validation_files, 2 test_files
    int domain = 0;  // with domain_from_folder: the domain of the file's folder
  };
  const std::vector<InputFile>& files() const { return files_; }

 private:
  // A configured column: its index and how messages name it.
  struct Column {
    int index = -1;
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
  Status Init();
  Status ExpandFiles();
  Status ReadHeader();
  StatusOr<Column> Resolve(const std::string& name, const std::string& config_field,
                           const std::string& label) const;
  // Opens files_[file_index_] and reads its header; false when past the last file.
  StatusOr<bool> OpenFile();
  std::string_view Cell(const Column& c) const { return fields_[c.index]; }
  // Fills *row from fields_; on a bad value sets *field and *problem and returns false.
  bool ParseRow(Row* row, std::string* field, std::string* problem);

  const CsvInput config_;
  SourceSchema schema_;
  std::vector<InputFile> files_;
  char quote_ = 0;  // 0 = no quoting
  std::string header_line_;
  std::vector<std::string> header_;
  int num_columns_ = 0;  // 0 = taken from the first data row
  int max_index_ = -1;   // the largest configured column index

  Column domain_;                                       // index -1: no domain column
  std::unordered_map<std::string, int> domain_values_;  // empty: numeric domain ids
  std::string group_list_;                              // "a, b, c" for messages
  Column user_;
  Column time_;
  std::vector<Task> tasks_;
  std::vector<Slot> slots_;
  std::vector<Dense> dense_;

  // Pass state.
  BadRowBudget* bad_ = nullptr;
  size_t file_index_ = 0;
  std::unique_ptr<LineReader> reader_;
  int64_t rows_read_ = 0;
  int expected_columns_ = 0;
  std::vector<std::string_view> fields_;
  std::vector<std::string> storage_;
  std::vector<std::string_view> pieces_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_CSV_SOURCE_H_
