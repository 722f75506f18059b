// `moerec export`: a trained matching model's embeddings for serving. Loads the run folder's
// best state (the newest checkpoint, then restore_best's), embeds the item corpus and the
// queries of a split, writes <out>/items.emb and <out>/users.emb (docs/formats.md), builds the
// faiss item index <out>/items.index (--index_kind), and reports Recall@K through the index
// next to the exact figure of the same embeddings (both without the users' training
// positives, as the trainer's evaluation).
#include <gflags/gflags.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "comm/communicator.h"
#include "core/parallel.h"
#include "embedding/table_spec.h"
#include "launch/commands.h"
#include "launch/job_setup.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "serving/embedding_file.h"
#include "serving/item_index.h"
#include "worker/metrics/retrieval.h"
#include "worker/trainer.h"

DECLARE_string(config);
DECLARE_string(run_dir);
DECLARE_string(out);
DECLARE_int64(k);
DEFINE_string(split, "test",
              "export: the split whose (user, scenario) queries are exported; eval: the split "
              "evaluated (test or validation)");

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The index's top-K of every query as a TopK over corpus positions, the query's excluded
// items skipped (it searches K + the longest exclusion list).
StatusOr<TopK> IndexTopK(const ItemIndex& index, const MatchingEvaluator::Export& e, int64_t k,
                         double* seconds) {
  const RetrievalUsers& q = e.queries;
  std::unordered_map<uint64_t, int64_t> position;
  for (size_t i = 0; i < e.item_keys.size(); ++i) position.emplace(e.item_keys[i], i);
  int64_t longest = 0;
  const int64_t n = q.vectors.rows;
  for (int64_t u = 0; u < n; ++u) {
    longest =
        std::max(longest, q.train.offsets.empty() ? int64_t{0}
                                                  : q.train.offsets[u + 1] - q.train.offsets[u]);
  }
  const int64_t wide = std::min<int64_t>(k + longest, index.size());
  TopK top;
  top.k = k;
  top.items.assign(n * k, -1);
  top.scores.assign(n * k, -std::numeric_limits<double>::infinity());
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  const Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(index.Search(q.vectors.data, n, wide, &ids, &scores));
  *seconds = Since(t0);
  for (int64_t u = 0; u < n; ++u) {
    const int64_t* ex_begin =
        q.train.offsets.empty() ? nullptr : q.train.items.data() + q.train.offsets[u];
    const int64_t* ex_end =
        q.train.offsets.empty() ? nullptr : q.train.items.data() + q.train.offsets[u + 1];
    int64_t r = 0;
    for (int64_t j = 0; j < wide && r < k; ++j) {
      const uint64_t id = ids[u * wide + j];
      if (id == UINT64_MAX) break;
      const int64_t item = position.at(id);
      if (ex_begin != nullptr && std::binary_search(ex_begin, ex_end, item)) continue;
      top.items[u * k + r] = item;
      top.scores[u * k + r] = scores[u * wide + j];
      ++r;
    }
  }
  return top;
}

void PrintReport(const std::string& prefix, const RetrievalReport& report) {
  for (const auto& [name, value] : report.values) {
    std::printf("%s%s=%.4f\n", prefix.c_str(), name.c_str(), value);
  }
}

Status Export() {
  if (FLAGS_config.empty()) return InvalidArgument("--config is required");
  if (FLAGS_run_dir.empty()) return InvalidArgument("--run_dir (the trained run) is required");
  if (FLAGS_out.empty()) return InvalidArgument("--out (the folder to write) is required");
  if (FLAGS_split != "test" && FLAGS_split != "validation") {
    return InvalidArgument("--split=" + FLAGS_split + ": want test or validation");
  }
  ASSIGN_OR_RETURN(const ItemIndexOptions index_options, ItemIndexOptionsFromFlags());
  ASSIGN_OR_RETURN(JobConfig config, LoadJobConfig(FLAGS_config));
  config.mutable_cluster()->set_num_workers(1);
  config.mutable_cluster()->set_num_servers(0);
  SetComputeThreads(ResolveComputeThreads(config.train().threads()));
  const Clock::time_point t0 = Clock::now();
  ASSIGN_OR_RETURN(auto store, LocalStore::Open(TableSpecsFromConfig(config)));
  SelfCommunicator self;
  Trainer::Options options;
  options.run_dir = FLAGS_run_dir;
  options.print_table = false;
  options.tb_flush_secs = 0;  // an export is no training: no event file in the run folder
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, options, store.get(), &self));
  ASSIGN_OR_RETURN(const auto e, trainer->ExportMatching(FLAGS_split));
  const int64_t d = e->items.cols();
  const int64_t n_items = static_cast<int64_t>(e->item_keys.size());
  const int64_t n_users = static_cast<int64_t>(e->user_ids.size());

  std::filesystem::create_directories(FLAGS_out);
  EmbeddingMatrix items;
  items.kind = EmbeddingMatrix::kItem;
  items.dim = d;
  items.ids = e->item_keys;
  items.scenario.assign(n_items, -1);
  items.values.assign(e->items.data(), e->items.data() + n_items * d);
  EmbeddingMatrix users;
  users.kind = EmbeddingMatrix::kUser;
  users.dim = d;
  users.ids = e->user_ids;
  users.scenario = e->queries.scenario;
  users.values.assign(e->users.data(), e->users.data() + n_users * d);
  RETURN_IF_ERROR(WriteEmbeddingFile(FLAGS_out + "/items.emb", items));
  RETURN_IF_ERROR(WriteEmbeddingFile(FLAGS_out + "/users.emb", users));
  const double export_s = Since(t0);

  const Clock::time_point t1 = Clock::now();
  ASSIGN_OR_RETURN(const auto index, ItemIndex::Build(items, index_options));
  const double build_s = Since(t1);
  RETURN_IF_ERROR(index->Save(FLAGS_out + "/items.index"));

  RetrievalOptions ropts = trainer->MatchingOptions();
  const int64_t k = std::max<int64_t>(FLAGS_k, *std::max_element(ropts.ks.begin(), ropts.ks.end()));
  const Clock::time_point t2 = Clock::now();
  ASSIGN_OR_RETURN(const TopK exact,
                   ExactTopK(e->queries.vectors, ConstMatView(e->items.data(), n_items, d, d), k,
                             e->queries.train, ropts.topk));
  const double exact_s = Since(t2);
  double search_s = 0;
  ASSIGN_OR_RETURN(const TopK approx, IndexTopK(*index, *e, k, &search_s));
  ASSIGN_OR_RETURN(const RetrievalReport exact_report,
                   EvaluateTopK(exact, e->queries.heldout, e->queries.scenario, ropts));
  ASSIGN_OR_RETURN(const RetrievalReport index_report,
                   EvaluateTopK(approx, e->queries.heldout, e->queries.scenario, ropts));

  std::printf("export_items=%lld\nexport_users=%lld\nexport_dim=%lld\n",
              static_cast<long long>(n_items), static_cast<long long>(n_users),
              static_cast<long long>(d));
  std::printf("export_s=%.4g\nindex=%s\nindex_build_s=%.4g\n", export_s, index->Describe().c_str(),
              build_s);
  std::printf("exact_queries_per_s=%.4g\nindex_queries_per_s=%.4g\n",
              exact_s > 0 ? n_users / exact_s : 0.0, search_s > 0 ? n_users / search_s : 0.0);
  PrintReport("exact_", exact_report);
  PrintReport("index_", index_report);
  std::printf("files=%s/{items.emb,users.emb,items.index}\n", FLAGS_out.c_str());
  return Status::OK();
}

}  // namespace

int ExportCommand() { return ReportStatus("export", Export()); }

}  // namespace moerec
