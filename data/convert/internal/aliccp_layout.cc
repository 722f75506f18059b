#include "data/convert/internal/aliccp_layout.h"

#include <algorithm>

#include "data/convert/internal/text.h"

namespace moerec::convert {

const std::vector<AliCcpField>& AliCcpFields() {
  static const std::vector<AliCcpField> kFields = {
      {"101", SIDE_USER, false},   {"109_14", SIDE_USER, true},  {"110_14", SIDE_USER, true},
      {"127_14", SIDE_USER, true}, {"150_14", SIDE_USER, true},  {"121", SIDE_USER, false},
      {"122", SIDE_USER, false},   {"124", SIDE_USER, false},    {"125", SIDE_USER, false},
      {"126", SIDE_USER, false},   {"127", SIDE_USER, false},    {"128", SIDE_USER, false},
      {"129", SIDE_USER, false},   {"205", SIDE_ITEM, false},    {"206", SIDE_ITEM, false},
      {"207", SIDE_ITEM, false},   {"210", SIDE_ITEM, true},     {"216", SIDE_ITEM, false},
      {"508", SIDE_CONTEXT, true}, {"509", SIDE_CONTEXT, true},  {"702", SIDE_CONTEXT, true},
      {"853", SIDE_CONTEXT, true}, {"301", SIDE_CONTEXT, false},
  };
  return kFields;
}

bool IsAliCcpField(std::string_view field) {
  const std::vector<AliCcpField>& fields = AliCcpFields();
  return std::any_of(fields.begin(), fields.end(),
                     [&](const AliCcpField& f) { return field == f.id; });
}

std::string AliCcpFieldList() {
  std::string out;
  for (const AliCcpField& f : AliCcpFields()) out += (out.empty() ? "" : ", ") + std::string(f.id);
  return out;
}

namespace {
const char* PartName(AliCcpInput::Part part) {
  return part == AliCcpInput::TEST ? "test" : "train";
}
}  // namespace

std::string AliCcpSkeletonFile(AliCcpInput::Part part) {
  return std::string("sample_skeleton_") + PartName(part) + ".csv";
}

std::string AliCcpCommonFile(AliCcpInput::Part part) {
  return std::string("common_features_") + PartName(part) + ".csv";
}

std::vector<AliCcpSlot> DefaultAliCcpSlots() {
  std::vector<AliCcpSlot> slots;
  for (const AliCcpField& f : AliCcpFields()) {
    AliCcpSlot& slot = slots.emplace_back();
    slot.set_name(f.id);
    slot.add_fields(f.id);
    slot.set_side(f.side);
    slot.set_pooling(f.multi ? POOLING_MEAN : POOLING_SUM);
  }
  return slots;
}

std::string ParseAliCcpFeatureList(std::string_view list, std::string_view entry_sep,
                                   std::string_view field_sep, std::string_view value_sep,
                                   std::vector<AliCcpEntry>* entries) {
  entries->clear();
  if (list.empty()) return std::string();
  size_t start = 0;
  while (true) {
    const size_t end = std::min(list.find(entry_sep, start), list.size());
    const std::string_view entry = list.substr(start, end - start);
    if (entry.empty()) {  // a doubled or trailing separator: nothing to read
      if (end == list.size()) return std::string();
      start = end + entry_sep.size();
      continue;
    }
    // Only a bad entry pays for its message.
    const auto where = [&] {
      return "entry " + std::to_string(entries->size() + 1) + " " + Quote(entry);
    };
    const size_t f = entry.find(field_sep);
    if (f == std::string_view::npos || f == 0) {
      return where() + ": no field id before the field separator " + Quote(field_sep);
    }
    const size_t v = entry.find(value_sep, f + field_sep.size());
    if (v == std::string_view::npos) {
      return where() + ": no value separator " + Quote(value_sep);
    }
    const std::string_view id_text = entry.substr(f + field_sep.size(), v - f - field_sep.size());
    const std::optional<uint64_t> id = ParseUint64(id_text);
    if (!id) return where() + ": feature id " + Quote(id_text) + " is not a decimal id";
    const std::string_view value = entry.substr(v + value_sep.size());
    if (!ParseDouble(value)) return where() + ": value " + Quote(value) + " is not a number";
    entries->push_back({.field = entry.substr(0, f), .feature_id = *id});
    if (end == list.size()) return std::string();
    start = end + entry_sep.size();
  }
}

}  // namespace moerec::convert
