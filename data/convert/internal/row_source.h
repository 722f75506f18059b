// RowSource: what every input layout (CSV/TSV, MovieLens ...) turns its files into — a stream
// of samples in the dataset's schema, with bad rows already judged by a BadRowBudget.
//
// A source can be read several times (a split that needs counts reads it twice); every pass
// yields the same rows in the same order with the same ordinals. Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_ROW_SOURCE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_ROW_SOURCE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/convert/internal/bad_rows.h"
#include "proto/config.pb.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

struct SourceSchema {
  std::vector<std::string> domain_names;  // D >= 1
  std::vector<std::string> task_names;    // T >= 1
  std::vector<SlotSpec> slots;            // S, names unique
  int num_dense = 0;                      // F
  bool has_time = false;                  // Row::time is meaningful
  // Which splits the input's own files provide ([0] train, [1] validation, [2] test), for split
  // method BY_FILE; all false when the input has no split files.
  std::array<bool, 3> file_splits = {false, false, false};
};

// One sample. Vectors keep their capacity from row to row.
struct Row {
  int64_t ordinal = 0;  // position among all data rows of the input, bad ones included
  int32_t domain = 0;   // in [0, D)
  uint64_t user = 0;
  int64_t time = 0;
  int32_t file_split = 0;     // the split of the file the row came from (0 when it has none)
  std::vector<float> labels;  // (T) 0 or 1
  std::vector<uint8_t> mask;  // (T) 1 = observed
  std::vector<float> dense;   // (F)
  std::vector<std::vector<uint64_t>> slots;  // S lists of ids

  void Reset(const SourceSchema& schema) {
    labels.assign(schema.task_names.size(), 0.0f);
    mask.assign(schema.task_names.size(), 0);
    dense.assign(schema.num_dense, 0.0f);
    slots.resize(schema.slots.size());
    for (auto& ids : slots) ids.clear();
  }
};

// The label of a task from a number: `value <op> threshold`; BINARY: value != 0.
inline bool TaskLabel(double value, TaskSpec::Op op, double threshold) {
  switch (op) {
    case TaskSpec::GT:
      return value > threshold;
    case TaskSpec::GE:
      return value >= threshold;
    case TaskSpec::EQ:
      return value == threshold;
    case TaskSpec::LE:
      return value <= threshold;
    case TaskSpec::LT:
      return value < threshold;
    case TaskSpec::NE:
      return value != threshold;
    case TaskSpec::BINARY:
      break;
  }
  return value != 0;
}

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual const SourceSchema& schema() const = 0;
  // Starts a pass from the first row; bad rows of this pass go to *bad (kept until the pass
  // ends).
  virtual Status Rewind(BadRowBudget* bad) = 0;
  // The next good row: true, or false at the end of the input. An error stops the pass.
  virtual StatusOr<bool> Next(Row* row) = 0;
  // Data rows read in this pass so far, good and bad.
  virtual int64_t rows_read() const = 0;
  // Rows of this pass dropped on purpose (not bad), e.g. ratings of a user in no domain.
  virtual int64_t rows_dropped() const { return 0; }
  // The share of this pass's input read so far, in [0, 1] (bytes of the rows' files), or -1
  // when not known.
  virtual double share_read() const { return -1.0; }
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_ROW_SOURCE_H_
