// Loading configs written in protobuf text format, and validating a job config once, at load.
//
// ParseTextProtoFile reads any message; errors name the file, line and column. LoadJobConfig
// parses a moerec.JobConfig, resolves relative data paths against the config file's folder,
// fills table defaults (every slot's table gets an entry in `tables`, with EmbeddingDefaults
// for what the config does not say) and validates every field except the model's internals
// (experts/ CreateModel checks those against the data's shape). Messages read
// "<file>: <field path>: <problem> (<allowed>)", e.g.
//   configs/x.pbtxt: train.epochs: must be >= 1, got 0
// Pure functions; thread-safe.
#ifndef MOEREC_PROTO_TEXT_CONFIG_H_
#define MOEREC_PROTO_TEXT_CONFIG_H_

#include <google/protobuf/message.h>

#include <string>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// Parses `path` into *message (cleared first). InvalidArgument "<path>:<line>:<col>: <what>"
// on a syntax error, an unknown field or a missing required field; IoError when unreadable.
Status ParseTextProtoFile(const std::string& path, google::protobuf::Message* message);
// The same for text already in memory; `name` stands for the file in messages.
Status ParseTextProto(const std::string& text, const std::string& name,
                      google::protobuf::Message* message);

// Parse + resolve + fill defaults + validate.
StatusOr<JobConfig> LoadJobConfig(const std::string& path);

// Validates a job config whose paths are resolved and tables filled; `name` prefixes messages.
Status ValidateJobConfig(const JobConfig& config, const std::string& name);

// `path` made absolute against `dir` unless it already is.
std::string ResolvePath(const std::string& dir, const std::string& path);

// Index of the table named `name` in config.tables(), or -1.
int FindTable(const JobConfig& config, const std::string& name);

// The table a distillation teacher reads `slot` through: model.two_tower.distill.table_prefix
// + the slot's table (its `table`, else its name).
std::string TeacherTableName(const JobConfig& config, const SlotSpec& slot);

}  // namespace moerec

#endif  // MOEREC_PROTO_TEXT_CONFIG_H_
