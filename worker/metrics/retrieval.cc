#include "worker/metrics/retrieval.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/linear.h"
#include "core/parallel.h"

namespace moerec {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int kMetrics = 3;  // recall, hr, ndcg
constexpr const char* kMetricNames[kMetrics] = {"recall", "hr", "ndcg"};
// Fixed point of the metric sums: a value in [0, 1] becomes q = round(v * 2^52), kept as its
// high and low 26 bits in two doubles, whose sums stay exact integers below 2^53.
constexpr double kFixedScale = 0x1p52;
constexpr int kFixedLowBits = 26;

struct Candidate {
  double score;
  int64_t item;
};

// The ranking order: higher score, then lower item index.
bool Better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

// The score of record: float products are exact in double, summed in dimension order.
double DotDouble(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) s += static_cast<double>(a[k]) * static_cast<double>(b[k]);
  return s;
}

std::string Str(int64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------------------------------------
// Input checks.

Status CheckVectors(const std::string& what, ConstMatView m) {
  if (m.rows < 0 || m.cols < 0 || m.ld < m.cols) {
    return InvalidArgument(what + " has shape (" + Str(m.rows) + ", " + Str(m.cols) + ") with ld " +
                           Str(m.ld));
  }
  if (m.rows > 0 && m.cols > 0 && m.data == nullptr) return InvalidArgument(what + " has no data");
  for (int64_t r = 0; r < m.rows; ++r) {
    const float* row = m.row(r);
    for (int64_t c = 0; c < m.cols; ++c) {
      if (!std::isfinite(row[c])) {
        return InvalidArgument(what + " row " + Str(r) + " has a non-finite value at column " +
                               Str(c));
      }
    }
  }
  return Status::OK();
}

// Structure, order and sign of `lists` for `num_users` users; *max_item gets the largest item
// named (-1 when none).
Status CheckLists(const std::string& what, const UserItemLists& lists, int64_t num_users,
                  int64_t* max_item) {
  *max_item = -1;
  if (lists.offsets.empty()) {
    if (!lists.items.empty()) return InvalidArgument(what + " has items but no offsets");
    return Status::OK();
  }
  if (static_cast<int64_t>(lists.offsets.size()) != num_users + 1) {
    return InvalidArgument(what + " has " + Str(lists.offsets.size()) + " offsets, expected " +
                           Str(num_users + 1) + " (one list per user)");
  }
  if (lists.offsets.front() != 0 ||
      lists.offsets.back() != static_cast<int64_t>(lists.items.size())) {
    return InvalidArgument(what + " offsets must run from 0 to the " + Str(lists.items.size()) +
                           " items");
  }
  for (int64_t u = 0; u < num_users; ++u) {
    const int64_t begin = lists.offsets[u], end = lists.offsets[u + 1];
    if (end < begin) return InvalidArgument(what + " offsets decrease at user " + Str(u));
    for (int64_t p = begin; p < end; ++p) {
      const int64_t item = lists.items[p];
      if (item < 0) {
        return InvalidArgument(what + " of user " + Str(u) + " has item " + Str(item) + " < 0");
      }
      if (p > begin && item <= lists.items[p - 1]) {
        return InvalidArgument(what + " of user " + Str(u) + " is not strictly increasing (" +
                               Str(item) + " after " + Str(lists.items[p - 1]) + ")");
      }
    }
    if (end > begin) *max_item = std::max(*max_item, lists.items[end - 1]);
  }
  return Status::OK();
}

Status CheckItemRange(const std::string& what, int64_t max_item, int64_t num_items) {
  if (max_item >= num_items) {
    return InvalidArgument(what + " has item " + Str(max_item) + ", the corpus has " +
                           Str(num_items) + " items");
  }
  return Status::OK();
}

Status CheckTopKOptions(const TopKOptions& options) {
  if (options.user_block < 1 || options.item_block < 1) {
    return InvalidArgument("topk blocks must be >= 1, got user_block " + Str(options.user_block) +
                           ", item_block " + Str(options.item_block));
  }
  return Status::OK();
}

Status CheckOptions(const RetrievalOptions& options) {
  if (options.ks.empty()) return InvalidArgument("ks is empty");
  for (size_t i = 0; i < options.ks.size(); ++i) {
    if (options.ks[i] < 1) {
      return InvalidArgument("ks[" + Str(i) + "] = " + Str(options.ks[i]) + ", expected >= 1");
    }
    if (std::find(options.ks.begin(), options.ks.begin() + i, options.ks[i]) !=
        options.ks.begin() + i) {
      return InvalidArgument("ks repeats " + Str(options.ks[i]));
    }
  }
  if (options.num_scenarios < 1) {
    return InvalidArgument("num_scenarios = " + Str(options.num_scenarios) + ", expected >= 1");
  }
  const std::vector<std::string>& names = options.scenario_names;
  if (!names.empty() && static_cast<int>(names.size()) != options.num_scenarios) {
    return InvalidArgument("scenario_names has " + Str(names.size()) + " names for " +
                           Str(options.num_scenarios) + " scenarios");
  }
  for (size_t s = 0; s < names.size(); ++s) {
    if (names[s].empty() || names[s].find('/') != std::string::npos) {
      return InvalidArgument("scenario_names[" + Str(s) + "] = '" + names[s] +
                             "': names must be non-empty, without '/'");
    }
  }
  if (options.gather_users < 1) {
    return InvalidArgument("gather_users = " + Str(options.gather_users) + ", expected >= 1");
  }
  return CheckTopKOptions(options.topk);
}

Status CheckScenario(const std::vector<int32_t>& scenario, int64_t num_users, int num_scenarios) {
  if (scenario.empty()) return Status::OK();
  if (static_cast<int64_t>(scenario.size()) != num_users) {
    return InvalidArgument("scenario has " + Str(scenario.size()) + " entries for " +
                           Str(num_users) + " users");
  }
  for (int64_t u = 0; u < num_users; ++u) {
    if (scenario[u] < 0 || scenario[u] >= num_scenarios) {
      return InvalidArgument("scenario of user " + Str(u) + " is " + Str(scenario[u]) +
                             ", expected [0, " + Str(num_scenarios) + ")");
    }
  }
  return Status::OK();
}

// Everything about `users` that does not need the corpus size; *max_item is the largest item
// of their lists.
Status CheckUsers(const RetrievalUsers& users, const RetrievalOptions& options, int64_t* max_item) {
  RETURN_IF_ERROR(CheckVectors("user vectors", users.vectors));
  const int64_t n = users.vectors.rows;
  RETURN_IF_ERROR(CheckScenario(users.scenario, n, options.num_scenarios));
  int64_t max_train = -1, max_heldout = -1;
  RETURN_IF_ERROR(CheckLists("train list", users.train, n, &max_train));
  RETURN_IF_ERROR(CheckLists("heldout list", users.heldout, n, &max_heldout));
  *max_item = std::max(max_train, max_heldout);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Ranking.

const int64_t* ListBegin(const UserItemLists& lists, int64_t u) {
  return lists.offsets.empty() ? nullptr : lists.items.data() + lists.offsets[u];
}
const int64_t* ListEnd(const UserItemLists& lists, int64_t u) {
  return lists.offsets.empty() ? nullptr : lists.items.data() + lists.offsets[u + 1];
}

// The top-k of every user over items [item_offset, item_offset + items.rows) of the corpus
// (checked input). Exclusion lists hold global indices and may name other shards' items.
void RankShard(ConstMatView users, ConstMatView items, int64_t item_offset, int64_t k,
               const UserItemLists& exclude, const TopKOptions& options, TopK* out) {
  const int64_t nu = users.rows, ni = items.rows, d = users.cols;
  out->k = k;
  out->items.assign(nu * k, -1);
  out->scores.assign(nu * k, kNegInf);
  if (nu == 0 || ni == 0) return;

  // |float GEMM - double dot| <= (gamma_d(float) + gamma_d(double)) * sum_k |u_k v_k|, bounded
  // with margin by rel * |u| |v| + abs (abs covers float underflow). Beyond 2^20 dimensions
  // nothing is screened out.
  const double rel = d < (1 << 20) ? 4.0 * static_cast<double>(d + 2) * 0x1p-24
                                   : std::numeric_limits<double>::infinity();
  const double abs = static_cast<double>(d + 2) * 0x1p-120;
  std::vector<double> item_norm(ni);
  ParallelFor(ni, 1024, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      item_norm[i] = std::sqrt(DotDouble(items.row(i), items.row(i), d));
    }
  });

  const int64_t bu = std::min(options.user_block, nu);
  const int64_t bi = std::min(options.item_block, ni);
  const int64_t blocks = (nu + bu - 1) / bu;
  ParallelFor(blocks, 1, [&](int64_t b0, int64_t b1) {
    Tensor tile({bu, bi});                 // scores of one (user, item) block, ld bi
    std::vector<Candidate> heaps(bu * k);  // per user a heap, worst candidate first
    std::vector<int64_t> sizes(bu);        // candidates in each heap
    std::vector<const int64_t*> next_excluded(bu);
    std::vector<double> user_bound(bu);  // rel * |u|
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t u0 = b * bu, n = std::min(bu, nu - u0);
      for (int64_t j = 0; j < n; ++j) {
        sizes[j] = 0;
        next_excluded[j] =
            std::lower_bound(ListBegin(exclude, u0 + j), ListEnd(exclude, u0 + j), item_offset);
        user_bound[j] = rel * std::sqrt(DotDouble(users.row(u0 + j), users.row(u0 + j), d));
      }
      for (int64_t i0 = 0; i0 < ni; i0 += bi) {
        const int64_t m = std::min(bi, ni - i0);
        const MatView scores{tile.data(), n, m, bi};
        Gemm(false, true, 1.0f, users.Rows(u0, n), items.Rows(i0, m), 0.0f, scores);
        const double block_norm = *std::max_element(&item_norm[i0], &item_norm[i0] + m);
        for (int64_t j = 0; j < n; ++j) {
          Candidate* heap = &heaps[j * k];
          int64_t& size = sizes[j];
          const int64_t* excluded = next_excluded[j];
          const int64_t* const excluded_end = ListEnd(exclude, u0 + j);
          const float* user = users.row(u0 + j);
          const float* row = scores.row(j);
          // A float score below `cutoff` (the worst kept score less the largest error bound of
          // the block) cannot enter; -inf and NaN (overflow) never rule an item out.
          double threshold = size == k ? heap[0].score : kNegInf;
          double cutoff = threshold - (user_bound[j] * block_norm + abs);
          for (int64_t c = 0; c < m; ++c) {
            const float screen = row[c];
            if (static_cast<double>(screen) < cutoff && screen != -INFINITY) continue;
            if (std::isfinite(screen) &&
                screen + (user_bound[j] * item_norm[i0 + c] + abs) < threshold) {
              continue;  // the same with this item's own bound
            }
            const int64_t item = item_offset + i0 + c;
            while (excluded != excluded_end && *excluded < item) ++excluded;
            if (excluded != excluded_end && *excluded == item) continue;
            const Candidate candidate{DotDouble(user, items.row(i0 + c), d), item};
            if (size < k) {
              heap[size++] = candidate;
              std::push_heap(heap, heap + size, Better);
            } else if (Better(candidate, heap[0])) {
              std::pop_heap(heap, heap + k, Better);
              heap[k - 1] = candidate;
              std::push_heap(heap, heap + k, Better);
            } else {
              continue;
            }
            if (size == k) {
              threshold = heap[0].score;
              cutoff = threshold - (user_bound[j] * block_norm + abs);
            }
          }
          next_excluded[j] = excluded;
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        Candidate* heap = &heaps[j * k];
        std::sort_heap(heap, heap + sizes[j], Better);  // best first
        for (int64_t r = 0; r < sizes[j]; ++r) {
          out->items[(u0 + j) * k + r] = heap[r].item;
          out->scores[(u0 + j) * k + r] = heap[r].score;
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Metric sums.

class MetricSums {
 public:
  explicit MetricSums(const RetrievalOptions& options)
      : ks_(options.ks),
        k_max_(*std::max_element(ks_.begin(), ks_.end())),
        scenarios_(options.num_scenarios),
        sums_(scenarios_ + ks_.size() * scenarios_ * kMetrics * 2, 0.0),
        discount_(k_max_),
        hits_(k_max_ + 1),
        dcg_(k_max_ + 1),
        idcg_(k_max_ + 1) {
    idcg_[0] = 0;
    for (int64_t r = 0; r < k_max_; ++r) {
      discount_[r] = 1.0 / std::log2(static_cast<double>(r) + 2.0);
      idcg_[r + 1] = idcg_[r] + discount_[r];
    }
  }

  // One user's ranking (k_max entries, -1 pads) against its sorted positives; none: skipped.
  void AddUser(const int64_t* ranked, const int64_t* pos_begin, const int64_t* pos_end,
               int scenario) {
    const int64_t positives = pos_end - pos_begin;
    if (positives == 0) return;
    sums_[scenario] += 1;
    hits_[0] = 0;
    dcg_[0] = 0;
    for (int64_t r = 0; r < k_max_; ++r) {
      const bool hit = ranked[r] >= 0 && std::binary_search(pos_begin, pos_end, ranked[r]);
      hits_[r + 1] = hits_[r] + (hit ? 1 : 0);
      dcg_[r + 1] = dcg_[r] + (hit ? discount_[r] : 0.0);
    }
    for (size_t ki = 0; ki < ks_.size(); ++ki) {
      const int64_t k = ks_[ki];
      const double values[kMetrics] = {
          static_cast<double>(hits_[k]) / static_cast<double>(positives), hits_[k] > 0 ? 1.0 : 0.0,
          dcg_[k] / idcg_[std::min(k, positives)]};
      for (int m = 0; m < kMetrics; ++m) {
        const int64_t q = std::llround(values[m] * kFixedScale);
        double* at = &sums_[Index(ki, scenario, m)];
        at[0] += static_cast<double>(q >> kFixedLowBits);
        at[1] += static_cast<double>(q & ((int64_t{1} << kFixedLowBits) - 1));
      }
    }
  }

  // The sums, for an all-reduce.
  std::vector<double>* raw() { return &sums_; }

  RetrievalReport Report(const RetrievalOptions& options) const {
    RetrievalReport report;
    report.ks = ks_;
    report.scenario_names = options.scenario_names;
    for (int s = 0; s < scenarios_ && options.scenario_names.empty(); ++s) {
      report.scenario_names.push_back("s" + Str(s));
    }
    for (int s = 0; s < scenarios_; ++s) {
      report.users.push_back(static_cast<int64_t>(sums_[s]));
      report.total_users += report.users.back();
    }
    for (size_t ki = 0; ki < ks_.size(); ++ki) {
      const std::string at = "@" + Str(ks_[ki]);
      for (int m = 0; m < kMetrics; ++m) {
        double high = 0, low = 0;  // exact: integers below 2^53
        for (int s = 0; s < scenarios_; ++s) {
          high += sums_[Index(ki, s, m)];
          low += sums_[Index(ki, s, m) + 1];
        }
        report.values.emplace_back(kMetricNames[m] + at, Mean(high, low, report.total_users));
      }
      for (int s = 0; s < scenarios_; ++s) {
        for (int m = 0; m < kMetrics; ++m) {
          const double* sum = &sums_[Index(ki, s, m)];
          report.values.emplace_back(kMetricNames[m] + at + "/" + report.scenario_names[s],
                                     Mean(sum[0], sum[1], report.users[s]));
        }
      }
    }
    return report;
  }

  int64_t k_max() const { return k_max_; }

 private:
  // Layout: users per scenario (S), then (K, S, metric, high / low).
  size_t Index(size_t ki, int scenario, int metric) const {
    return scenarios_ + ((ki * scenarios_ + scenario) * kMetrics + metric) * 2;
  }
  static double Mean(double high, double low, int64_t n) {
    if (n == 0) return kNaN;
    return (high * (1 << kFixedLowBits) + low) / kFixedScale / static_cast<double>(n);
  }

  std::vector<int64_t> ks_;
  int64_t k_max_;
  int scenarios_;
  std::vector<double> sums_;
  std::vector<double> discount_;  // (K) 1 / log2(r + 2) for 0-based rank r
  std::vector<int64_t> hits_;     // (K + 1) scratch: hits in the first r ranks
  std::vector<double> dcg_;       // (K + 1) scratch: DCG of the first r ranks
  std::vector<double> idcg_;      // (K + 1) DCG of r hits in a row
};

int ScenarioOf(const std::vector<int32_t>& scenario, int64_t u) {
  return scenario.empty() ? 0 : scenario[u];
}

// ---------------------------------------------------------------------------------------------
// Distributed evaluation: messages.

void AppendBytes(const void* data, size_t bytes, std::string* out) {
  out->append(static_cast<const char*>(data), bytes);
}
void AppendInt(int64_t v, std::string* out) { AppendBytes(&v, sizeof(v), out); }

// Reads fixed-size values from a buffer, failing softly when it runs out.
class Reader {
 public:
  explicit Reader(std::string_view buffer) : rest_(buffer) {}
  bool Read(void* out, size_t bytes) {
    if (rest_.size() < bytes) return false;
    if (bytes > 0) std::memcpy(out, rest_.data(), bytes);
    rest_.remove_prefix(bytes);
    return true;
  }
  bool ReadInt(int64_t* v) { return Read(v, sizeof(*v)); }
  bool ReadString(std::string* s) {
    int64_t n = 0;
    if (!ReadInt(&n) || n < 0 || static_cast<size_t>(n) > rest_.size()) return false;
    s->assign(rest_.data(), n);
    rest_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

// What each worker states about its input before the first round.
struct Header {
  std::string error;  // its local check's message; empty when OK
  int64_t users = 0, dim = 0, item_offset = 0, items = 0, max_item = -1;
  int64_t scenarios = 0, gather_users = 0;
  std::vector<int64_t> ks;

  std::string Encode() const {
    std::string out;
    AppendInt(static_cast<int64_t>(error.size()), &out);
    out += error;
    for (int64_t v : {users, dim, item_offset, items, max_item, scenarios, gather_users}) {
      AppendInt(v, &out);
    }
    AppendInt(static_cast<int64_t>(ks.size()), &out);
    for (int64_t k : ks) AppendInt(k, &out);
    return out;
  }
  bool Decode(std::string_view buffer) {
    Reader in(buffer);
    int64_t nks = 0;
    if (!in.ReadString(&error)) return false;
    for (int64_t* v : {&users, &dim, &item_offset, &items, &max_item, &scenarios, &gather_users}) {
      if (!in.ReadInt(v)) return false;
    }
    if (!in.ReadInt(&nks) || nks < 0 || static_cast<size_t>(nks) * 8 != in.remaining()) {
      return false;
    }
    ks.resize(nks);
    return in.Read(ks.data(), nks * sizeof(int64_t));
  }
};

// The verdict on every worker's header, the same on every worker.
Status CheckHeaders(const std::vector<Header>& headers) {
  const Header& first = headers[0];
  for (size_t r = 0; r < headers.size(); ++r) {
    if (!headers[r].error.empty())
      return InvalidArgument("worker " + Str(r) + ": " + headers[r].error);
  }
  for (size_t r = 1; r < headers.size(); ++r) {
    const Header& h = headers[r];
    if (h.dim != first.dim || h.ks != first.ks || h.scenarios != first.scenarios ||
        h.gather_users != first.gather_users) {
      return InvalidArgument("worker " + Str(r) + " disagrees with worker 0 on the vector width (" +
                             Str(h.dim) + " vs " + Str(first.dim) +
                             "), ks, num_scenarios or gather_users");
    }
  }
  std::vector<const Header*> shards;
  for (const Header& h : headers) {
    if (h.items > 0) shards.push_back(&h);
  }
  std::sort(shards.begin(), shards.end(),
            [](const Header* a, const Header* b) { return a->item_offset < b->item_offset; });
  int64_t end = 0;
  for (const Header* h : shards) {
    if (h->item_offset != end) {
      return InvalidArgument("item shards do not tile the corpus: worker " +
                             Str(h - headers.data()) + " starts at item " + Str(h->item_offset) +
                             ", expected " + Str(end));
    }
    end += h->items;
  }
  for (size_t r = 0; r < headers.size(); ++r) {
    RETURN_IF_ERROR(CheckItemRange("worker " + Str(r) + "'s lists", headers[r].max_item, end));
  }
  return Status::OK();
}

// Users [begin, begin + count) of this worker: count, vectors, exclusion lists.
std::string EncodeRound(const RetrievalUsers& users, int64_t begin, int64_t count) {
  const int64_t d = users.vectors.cols;
  std::string out;
  AppendInt(count, &out);
  for (int64_t u = begin; u < begin + count; ++u) {
    AppendBytes(users.vectors.row(u), d * sizeof(float), &out);
  }
  for (int64_t u = begin; u < begin + count; ++u) {
    const int64_t* list = ListBegin(users.train, u);
    const int64_t n = ListEnd(users.train, u) - list;
    AppendInt(n, &out);
    AppendBytes(list, n * sizeof(int64_t), &out);
  }
  return out;
}

// Every worker's round message, concatenated in worker order.
struct Round {
  std::vector<int64_t> counts;  // (W) users from each worker
  std::vector<float> vectors;   // (sum of counts, d)
  UserItemLists train;
};

Status DecodeRound(const std::vector<std::string>& messages, int64_t d, Round* round) {
  round->counts.clear();
  round->vectors.clear();
  round->train.offsets.assign(1, 0);
  round->train.items.clear();
  for (size_t r = 0; r < messages.size(); ++r) {
    const Status bad = Internal("malformed retrieval round message from worker " + Str(r));
    Reader in(messages[r]);
    int64_t count = 0;
    if (!in.ReadInt(&count) || count < 0 ||
        static_cast<size_t>(count) * d * sizeof(float) > in.remaining()) {
      return bad;
    }
    round->counts.push_back(count);
    const size_t at = round->vectors.size();
    round->vectors.resize(at + count * d);
    if (!in.Read(round->vectors.data() + at, count * d * sizeof(float))) return bad;
    for (int64_t u = 0; u < count; ++u) {
      int64_t n = 0;
      if (!in.ReadInt(&n) || n < 0 || static_cast<size_t>(n) * 8 > in.remaining()) return bad;
      const size_t items_at = round->train.items.size();
      round->train.items.resize(items_at + n);
      if (!in.Read(round->train.items.data() + items_at, n * sizeof(int64_t))) return bad;
      round->train.offsets.push_back(static_cast<int64_t>(round->train.items.size()));
    }
    if (in.remaining() != 0) return bad;
  }
  return Status::OK();
}

}  // namespace

void UserItemLists::Add(const std::vector<int64_t>& user_items) {
  if (offsets.empty()) offsets.push_back(0);
  items.insert(items.end(), user_items.begin(), user_items.end());
  offsets.push_back(static_cast<int64_t>(items.size()));
}

double RetrievalReport::value(std::string_view name) const {
  for (const auto& [key, v] : values) {
    if (key == name) return v;
  }
  return kNaN;
}

StatusOr<TopK> ExactTopK(ConstMatView users, ConstMatView items, int64_t k,
                         const UserItemLists& exclude, const TopKOptions& options) {
  if (k < 1) return InvalidArgument("top-k needs k >= 1, got " + Str(k));
  RETURN_IF_ERROR(CheckTopKOptions(options));
  RETURN_IF_ERROR(CheckVectors("user vectors", users));
  RETURN_IF_ERROR(CheckVectors("item vectors", items));
  if (users.cols != items.cols) {
    return InvalidArgument("user vectors have width " + Str(users.cols) + ", item vectors " +
                           Str(items.cols));
  }
  int64_t max_item = -1;
  RETURN_IF_ERROR(CheckLists("exclusion list", exclude, users.rows, &max_item));
  RETURN_IF_ERROR(CheckItemRange("exclusion list", max_item, items.rows));
  TopK topk;
  RankShard(users, items, 0, k, exclude, options, &topk);
  return topk;
}

StatusOr<RetrievalReport> EvaluateTopK(const TopK& topk, const UserItemLists& heldout,
                                       const std::vector<int32_t>& scenario,
                                       const RetrievalOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  const int64_t k_max = *std::max_element(options.ks.begin(), options.ks.end());
  if (topk.k < k_max || topk.items.size() % topk.k != 0 ||
      topk.scores.size() != topk.items.size()) {
    return InvalidArgument("topk has k " + Str(topk.k) + " and " + Str(topk.items.size()) +
                           " items; need k >= max(ks) = " + Str(k_max) + " and whole rows");
  }
  const int64_t n = static_cast<int64_t>(topk.items.size()) / topk.k;
  int64_t max_item = -1;
  RETURN_IF_ERROR(CheckScenario(scenario, n, options.num_scenarios));
  RETURN_IF_ERROR(CheckLists("heldout list", heldout, n, &max_item));
  MetricSums sums(options);
  for (int64_t u = 0; u < n; ++u) {
    sums.AddUser(&topk.items[u * topk.k], ListBegin(heldout, u), ListEnd(heldout, u),
                 ScenarioOf(scenario, u));
  }
  return sums.Report(options);
}

StatusOr<RetrievalReport> EvaluateRetrieval(const RetrievalUsers& users, ConstMatView items,
                                            const RetrievalOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  int64_t max_item = -1;
  RETURN_IF_ERROR(CheckUsers(users, options, &max_item));
  RETURN_IF_ERROR(CheckItemRange("train or heldout list", max_item, items.rows));
  const int64_t k_max = *std::max_element(options.ks.begin(), options.ks.end());
  ASSIGN_OR_RETURN(TopK topk, ExactTopK(users.vectors, items, k_max, users.train, options.topk));
  return EvaluateTopK(topk, users.heldout, users.scenario, options);
}

StatusOr<RetrievalReport> EvaluateRetrievalDistributed(Communicator* comm,
                                                       const RetrievalUsers& users,
                                                       ConstMatView item_shard, int64_t item_offset,
                                                       const RetrievalOptions& options) {
  // Local checks travel in the header, so that every worker returns the same verdict.
  Header mine;
  Status local = CheckOptions(options);
  if (local.ok()) local = CheckUsers(users, options, &mine.max_item);
  if (local.ok()) local = CheckVectors("item shard", item_shard);
  if (local.ok() && item_offset < 0)
    local = InvalidArgument("item_offset " + Str(item_offset) + " < 0");
  if (local.ok() && item_shard.cols != users.vectors.cols) {
    local = InvalidArgument("user vectors have width " + Str(users.vectors.cols) +
                            ", the item shard " + Str(item_shard.cols));
  }
  if (!local.ok()) mine.error = local.message();
  mine.users = users.vectors.rows;
  mine.dim = users.vectors.cols;
  mine.item_offset = item_offset;
  mine.items = item_shard.rows;
  mine.scenarios = options.num_scenarios;
  mine.gather_users = options.gather_users;
  mine.ks = options.ks;

  const int workers = comm->size();
  std::vector<std::string> messages;
  RETURN_IF_ERROR(comm->AllGather(mine.Encode(), &messages));
  if (static_cast<int>(messages.size()) != workers) return Internal("all-gather lost workers");
  std::vector<Header> headers(workers);
  for (int r = 0; r < workers; ++r) {
    if (!headers[r].Decode(messages[r])) {
      return Internal("malformed retrieval header from worker " + Str(r));
    }
  }
  RETURN_IF_ERROR(CheckHeaders(headers));

  const int64_t d = users.vectors.cols, per_round = options.gather_users;
  int64_t most_users = 0;
  for (const Header& h : headers) most_users = std::max(most_users, h.users);
  const int64_t rounds = (most_users + per_round - 1) / per_round;
  MetricSums sums(options);
  const int64_t k = sums.k_max();
  Round round;
  TopK shard_topk;
  std::vector<int64_t> send, recv, merged(k);
  std::vector<int64_t> send_counts(workers), send_displs, recv_counts(workers), recv_displs;
  std::vector<Candidate> candidates;
  for (int64_t t = 0; t < rounds; ++t) {
    const int64_t begin = std::min(mine.users, t * per_round);
    const int64_t count = std::min(mine.users, begin + per_round) - begin;
    RETURN_IF_ERROR(comm->AllGather(EncodeRound(users, begin, count), &messages));
    RETURN_IF_ERROR(DecodeRound(messages, d, &round));
    const int64_t gathered = static_cast<int64_t>(round.train.offsets.size()) - 1;
    RankShard(ConstMatView(round.vectors.data(), gathered, d, d), item_shard, item_offset, k,
              round.train, options.topk, &shard_topk);

    // Each gathered user's shard list, as (score bits, item) pairs, goes to its owner.
    send.resize(2 * gathered * k);
    for (int64_t i = 0; i < gathered * k; ++i) {
      send[2 * i] = std::bit_cast<int64_t>(shard_topk.scores[i]);
      send[2 * i + 1] = shard_topk.items[i];
    }
    for (int r = 0; r < workers; ++r) {
      send_counts[r] = 2 * k * round.counts[r];
      recv_counts[r] = 2 * k * count;
    }
    PackedDisplacements(send_counts, &send_displs);
    recv.resize(PackedDisplacements(recv_counts, &recv_displs));
    RETURN_IF_ERROR(comm->AllToAllV(send.data(), send_counts, send_displs, recv.data(), recv_counts,
                                    recv_displs));

    for (int64_t j = 0; j < count; ++j) {
      candidates.clear();
      for (int r = 0; r < workers; ++r) {
        const int64_t* list = recv.data() + recv_displs[r] + 2 * k * j;
        for (int64_t c = 0; c < k && list[2 * c + 1] >= 0; ++c) {
          candidates.push_back(Candidate{std::bit_cast<double>(list[2 * c]), list[2 * c + 1]});
        }
      }
      const size_t kept = std::min<size_t>(k, candidates.size());
      std::partial_sort(candidates.begin(), candidates.begin() + kept, candidates.end(), Better);
      std::fill(merged.begin(), merged.end(), -1);
      for (size_t c = 0; c < kept; ++c) merged[c] = candidates[c].item;
      const int64_t u = begin + j;
      sums.AddUser(merged.data(), ListBegin(users.heldout, u), ListEnd(users.heldout, u),
                   ScenarioOf(users.scenario, u));
    }
  }
  std::vector<double>* raw = sums.raw();
  RETURN_IF_ERROR(comm->AllReduceSum(raw->data(), static_cast<int64_t>(raw->size())));
  return sums.Report(options);
}

}  // namespace moerec
