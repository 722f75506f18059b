#include "embedding/embedding_store.h"

namespace moerec {

Status CheckTableRequest(const TableRequest& request, const std::vector<TableSpec>& tables) {
  if (request.table < 0 || request.table >= static_cast<int>(tables.size())) {
    return InvalidArgument("request names table " + std::to_string(request.table) + " of " +
                           std::to_string(tables.size()));
  }
  const TableSpec& spec = tables[request.table];
  const size_t n = request.keys.size();
  if (request.values.size() != n * static_cast<size_t>(spec.dim)) {
    return InvalidArgument("table " + spec.name + ": value buffer holds " +
                           std::to_string(request.values.size()) + " floats for " +
                           std::to_string(n) + " keys of dim " + std::to_string(spec.dim));
  }
  return Status::OK();
}

}  // namespace moerec
