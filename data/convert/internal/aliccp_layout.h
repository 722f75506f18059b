// The fixed facts of the raw Ali-CCP layout (Alibaba Click and Conversion Prediction, Tianchi
// dataset 408, as released with the ESMM paper): file names, the 23 feature fields with the side
// they describe, and the parser of a feature list. Shared by the source that reads the files and
// the config validator.
//
// Fields: user 101 (user id), 109_14 / 110_14 / 127_14 / 150_14 (the user's behaviour on
// categories, shops, brands, intentions: many ids per sample), 121, 122, 124 .. 129 (profile);
// item 205 (item id), 206 (category), 207 (shop), 210 (intentions, many), 216 (brand);
// combinations 508, 509, 702, 853 (user behaviour crossed with the item, many); context 301
// (the scenario: the domain). The user fields come in common_features_*.csv, the others in
// sample_skeleton_*.csv.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_ALICCP_LAYOUT_H_
#define MOEREC_DATA_CONVERT_INTERNAL_ALICCP_LAYOUT_H_

#include <string>
#include <string_view>
#include <vector>

#include "proto/config.pb.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

struct AliCcpField {
  const char* id;  // "101", "109_14", ...
  Side side;
  bool multi;  // many ids per sample: mean pooling in the default slots
};
// The 23 fields, users first, in the order of the dataset's description.
const std::vector<AliCcpField>& AliCcpFields();
bool IsAliCcpField(std::string_view field);
// "101, 109_14, ..." for messages.
std::string AliCcpFieldList();

// File names of a part: sample_skeleton_<part>.csv and common_features_<part>.csv.
std::string AliCcpSkeletonFile(AliCcpInput::Part part);
std::string AliCcpCommonFile(AliCcpInput::Part part);

// The default slots (one per field, named by the field id) when the config lists none.
std::vector<AliCcpSlot> DefaultAliCcpSlots();

// One entry of a feature list.
struct AliCcpEntry {
  std::string_view field;
  uint64_t feature_id = 0;
};
// Splits `list` into *entries: entries separated by `entry_sep`, each
// `field <field_sep> feature_id <value_sep> value`, feature_id decimal, value a finite number
// (checked, not kept). Empty entries (a doubled or trailing separator) are skipped. On a bad entry
// returns a message naming it by its 1-based position ("entry 3: ..."); empty when fine.
std::string ParseAliCcpFeatureList(std::string_view list, std::string_view entry_sep,
                                   std::string_view field_sep, std::string_view value_sep,
                                   std::vector<AliCcpEntry>* entries);

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_ALICCP_LAYOUT_H_
