#include "embedding/table_spec.h"

#include <cmath>

#include "core/random.h"

namespace moerec {

std::vector<TableSpec> TableSpecsFromConfig(const JobConfig& config) {
  std::vector<TableSpec> specs;
  specs.reserve(config.tables_size());
  for (const TableConfig& t : config.tables()) {
    TableSpec spec;
    spec.name = t.name();
    spec.dim = t.dim();
    spec.optimizer = t.optimizer();
    spec.initializer = t.initializer();
    spec.storage = t.storage();
    spec.seed = config.embedding().seed();
    spec.name_hash = StableHash(t.name());
    specs.push_back(std::move(spec));
  }
  return specs;
}

uint64_t StableHash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

void InitRow(const TableSpec& spec, uint64_t key, float* out) {
  const uint64_t base = HashCombine(HashCombine(spec.seed, spec.name_hash), key);
  const float scale = spec.initializer.scale();
  switch (spec.initializer.type()) {
    case InitializerConfig::ZEROS:
      for (int j = 0; j < spec.dim; ++j) out[j] = 0.0f;
      break;
    case InitializerConfig::UNIFORM:
      for (int j = 0; j < spec.dim; ++j) {
        out[j] = static_cast<float>((2.0 * ToUnitDouble(Mix64(base + j)) - 1.0) * scale);
      }
      break;
    case InitializerConfig::NORMAL: {
      // The sum of four independent uniforms (16 bits each, from one hash), centred and scaled
      // to unit variance: a normal truncated at +-2 sqrt(3) sigma (Irwin-Hall), about ten times
      // cheaper than Box-Muller. Rows are created on the pull path, so this matters.
      const float k = static_cast<float>(std::sqrt(3.0) / 32768.0) * scale;
      for (int j = 0; j < spec.dim; ++j) {
        const uint64_t h = Mix64(base + j);
        const uint32_t sum = static_cast<uint32_t>(h & 0xffff) + ((h >> 16) & 0xffff) +
                             ((h >> 32) & 0xffff) + (h >> 48);
        out[j] = (static_cast<float>(sum) - 131070.0f) * k;
      }
      break;
    }
  }
}

int ShardOf(uint64_t table_hash, uint64_t key, int num_shards) {
  const uint64_t h = HashCombine(table_hash, key);
  return static_cast<int>((static_cast<unsigned __int128>(h) * num_shards) >> 64);
}

}  // namespace moerec
