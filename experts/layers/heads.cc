#include "experts/layers/heads.h"

#include <glog/logging.h>

namespace moerec {

int NumHeads(HeadIndex index, int num_domains, int num_tasks) {
  switch (index) {
    case BY_TASK:
      return num_tasks;
    case BY_DOMAIN:
      return num_domains;
    case BY_DOMAIN_TASK:
      return num_domains * num_tasks;
  }
  LOG(FATAL) << "unknown HeadIndex " << static_cast<int>(index);
  return 0;
}

int HeadFor(HeadIndex index, int num_tasks, int domain, int task) {
  switch (index) {
    case BY_TASK:
      return task;
    case BY_DOMAIN:
      return domain;
    case BY_DOMAIN_TASK:
      return domain * num_tasks + task;
  }
  LOG(FATAL) << "unknown HeadIndex " << static_cast<int>(index);
  return 0;
}

void CheckDomainBegin(const std::vector<int64_t>& domain_begin, int num_domains, int64_t rows) {
  CHECK_EQ(static_cast<int64_t>(domain_begin.size()), num_domains + 1)
      << "domain_begin must have num_domains + 1 entries";
  CHECK_EQ(domain_begin.front(), 0);
  CHECK_EQ(domain_begin.back(), rows);
  for (int d = 0; d < num_domains; ++d) {
    CHECK_LE(domain_begin[d], domain_begin[d + 1]) << "domain_begin must be non-decreasing";
  }
}

}  // namespace moerec
