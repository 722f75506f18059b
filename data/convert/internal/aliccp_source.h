// AliCcpSource: the raw Ali-CCP layout (AliCcpInput in proto/convert.proto) as samples — one per
// line of sample_skeleton_<part>.csv, joined with its row of common_features_<part>.csv — with
// the domain from the scenario field (301), tasks click and conversion, and one slot per
// configured group of fields.
//
// Memory: the common-features file of the part being read is held in memory, and only that one
// (reading the next part replaces it): 8 bytes per kept feature id (ids of fields that no slot
// uses are not kept), 8 bytes per (row, slot), and about 100 bytes per row for the index by
// common_feature_index. The user-behaviour fields 109_14, 110_14, 127_14 and 150_14 hold most of
// the ids (hundreds per row); leaving them out of the slots shrinks the table accordingly.
// Skeleton files stream. A pass that starts over with another part reads its common file again.
//
// Bad rows of either file go to the pass's budget. A sample whose common row was bad is dropped
// (counted; its cause was reported), as is one with conversion 1 and click 0 when
// drop_unclicked_conversions is set, or whose domain is in no group with drop_unmatched. Without
// domain_groups, Open scans the skeleton files once for the domain field's values. Not
// thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_ALICCP_SOURCE_H_
#define MOEREC_DATA_CONVERT_INTERNAL_ALICCP_SOURCE_H_

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "data/convert/internal/aliccp_layout.h"
#include "data/convert/internal/row_source.h"
#include "data/convert/internal/text.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

class AliCcpSource : public RowSource {
 public:
  // `config` must have passed ValidateConvertConfig. NotFound when a file is missing.
  static StatusOr<std::unique_ptr<AliCcpSource>> Open(const AliCcpInput& config);

  const SourceSchema& schema() const override { return schema_; }
  Status Rewind(BadRowBudget* bad) override;
  StatusOr<bool> Next(Row* row) override;
  int64_t rows_read() const override { return rows_read_; }
  double share_read() const override { return share_.Share(reader_.get()); }
  int64_t rows_dropped() const override { return rows_dropped_; }

  // Rows of the common-features table now in memory.
  int64_t common_rows() const { return static_cast<int64_t>(common_.users.size()); }

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // What an entry's field means to this conversion.
  struct FieldRole {
    int slot = -1;  // the slot collecting its ids, or -1
    bool domain = false;
    bool user = false;
  };
  // The common-features file of one part.
  struct CommonTable {
    int part = -1;  // index into parts_; -1: none loaded
    std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>> index;  // -> row
    std::unordered_set<std::string, KeyHash, std::equal_to<>> bad;  // indexes of bad rows
    std::vector<uint64_t> ids;      // kept ids, row-major, slot by slot
    std::vector<uint64_t> offsets;  // (rows * S + 1) row r slot s: [offsets[r*S+s], [r*S+s+1])
    std::vector<uint64_t> users;    // (rows) user_field's id, 0 when absent
  };

  explicit AliCcpSource(const AliCcpInput& config);
  Status CheckFiles() const;
  Status DiscoverDomains();
  Status LoadCommon(int part, BadRowBudget* bad);
  // A field's role; nullptr for an Ali-CCP field nobody uses; *unknown when it is not an
  // Ali-CCP field at all.
  const FieldRole* RoleOf(std::string_view field, bool* unknown) const;
  // Parses a skeleton line already split into fields_: false with *dropped, or *field and
  // *problem, set when it gives no sample.
  bool ParseSample(Row* row, bool* dropped, std::string* field, std::string* problem);
  std::string Path(const std::string& file) const { return config_.dir() + "/" + file; }

  const AliCcpInput config_;
  SourceSchema schema_;
  std::vector<AliCcpInput::Part> parts_;
  std::vector<AliCcpSlot> slots_;
  std::unordered_map<std::string_view, FieldRole> roles_;  // keys point into config_ / slots_
  std::unordered_map<uint64_t, int> domain_of_id_;         // domain field's feature id -> domain
  std::vector<std::string> group_names_;                   // for messages
  std::vector<int> task_columns_;                          // (T) 0 click, 1 conversion
  CommonTable common_;

  // Pass state.
  BadRowBudget* bad_ = nullptr;
  size_t part_index_ = 0;
  std::unique_ptr<LineReader> reader_;
  PassShare share_;  // over the parts' skeleton files
  int64_t rows_read_ = 0;
  int64_t rows_dropped_ = 0;
  std::vector<std::string_view> fields_;
  std::vector<AliCcpEntry> entries_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_ALICCP_SOURCE_H_
