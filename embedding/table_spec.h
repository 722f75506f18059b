// TableSpec: what a worker and a server both need to know about one sparse embedding table,
// derived once from the job config; plus the two pure functions that make rows location-
// independent: the row initialiser and the shard of a key.
//
// A row's initial value depends only on (table name, key, seed), never on which server or
// process creates it, so resharding, restarts and the single-process reference all agree.
// Shards use a real mixing hash of (table, key), not the raw id modulo the shard count, so
// sequential or structured ids spread evenly.
// Thread-safety: values and pure functions.
#ifndef MOEREC_EMBEDDING_TABLE_SPEC_H_
#define MOEREC_EMBEDDING_TABLE_SPEC_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/config.pb.h"

namespace moerec {

struct TableSpec {
  std::string name;
  int dim = 0;
  RowOptimizerConfig optimizer;
  InitializerConfig initializer;
  TableStorageConfig storage;  // admission and eviction (parameter servers)
  uint64_t seed = 0;           // row initialisation seed (EmbeddingDefaults.seed)
  uint64_t name_hash = 0;  // stable hash of the name; identifies the table in hashes and on disk
};

// One spec per entry of config.tables(), in order (LoadJobConfig has filled every slot's table).
std::vector<TableSpec> TableSpecsFromConfig(const JobConfig& config);

// (from, to) pairs of table names: a checkpoint's table `from` imported as this job's `to`
// (EmbeddingStore::ImportTables).
using TableRenames = std::vector<std::pair<std::string, std::string>>;

// A stable 64-bit hash of a string (FNV-1a, then Mix64).
uint64_t StableHash(const std::string& s);

// Writes the initial value of row `key` of `spec`: (dim) floats.
void InitRow(const TableSpec& spec, uint64_t key, float* out);

// The shard in [0, num_shards) that owns `key` of the table with `table_hash`.
int ShardOf(uint64_t table_hash, uint64_t key, int num_shards);

}  // namespace moerec

#endif  // MOEREC_EMBEDDING_TABLE_SPEC_H_
