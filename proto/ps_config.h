// Validation of the parameter-server settings of a job (proto/ps.proto): ServerConfig
// (JobConfig.ps) and every table's TableStorageConfig, plus EmbeddingDefaults.storage.
// Messages name the config, the field path and the allowed values, like the rest of the
// config loader. Depends only on the generated protos, so the loader (proto/text_config.cc)
// can call it.
// Thread-safety: pure function.
#ifndef MOEREC_PROTO_PS_CONFIG_H_
#define MOEREC_PROTO_PS_CONFIG_H_

#include <string>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// `name` prefixes messages (the config file path): "<name>: ps.cache_mb: must be >= 1, got 0".
Status ValidatePsConfig(const JobConfig& config, const std::string& name);

// One TableStorageConfig; `field` is its path in the config (e.g. "tables[2].storage").
Status ValidateTableStorage(const TableStorageConfig& storage, const std::string& field,
                            const std::string& name);

}  // namespace moerec

#endif  // MOEREC_PROTO_PS_CONFIG_H_
