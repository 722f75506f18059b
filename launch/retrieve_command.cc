// `moerec index` and `moerec retrieve`: an item index built from an exported item embedding
// file, and the top-K items of every user of a user embedding file (serving/).
#include <gflags/gflags.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/parallel.h"
#include "launch/commands.h"
#include "serving/embedding_file.h"
#include "serving/item_index.h"
#include "worker/trainer.h"

DEFINE_string(items, "",
              "index: the item embedding file (docs/formats.md); bench retrieve: the item count "
              "(default 100000)");
DEFINE_string(users, "", "retrieve: the user embedding file (docs/formats.md)");
DEFINE_string(index, "", "retrieve: the item index file written by `moerec index`");
DEFINE_string(out, "",
              "index: the index file to write; retrieve, predict: the TSV file to write; report: "
              "the HTML file (default RUN_DIR/report.html)");
DEFINE_int64(k, 50, "retrieve, bench retrieve: items per user");
DEFINE_int32(nprobe, -1,
             "retrieve: IVF lists scanned per user (-1: the index's own); index: the default "
             "stored in the index (-1: 16)");
DEFINE_string(index_kind, "flat", "index: flat (exact inner product) or ivfpq");
DEFINE_int32(nlist, 0, "index --index_kind=ivfpq: inverted lists (0: about 4 sqrt(items))");
DEFINE_int32(pq_m, 0,
             "index --index_kind=ivfpq: PQ sub-quantizers, a divisor of the dim (0: ~dim/4)");
DEFINE_int32(pq_bits, 8, "index --index_kind=ivfpq: bits per PQ code, 1..16");
DEFINE_int32(train_sample, 0, "index --index_kind=ivfpq: training rows (0: all items)");

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Users per Search call: bounds the (users, K) result buffers.
constexpr int64_t kUserBlock = 16384;

}  // namespace

StatusOr<ItemIndexOptions> ItemIndexOptionsFromFlags() {
  ItemIndexOptions options;
  if (FLAGS_index_kind == "flat") {
    options.kind = ItemIndexOptions::kFlat;
  } else if (FLAGS_index_kind == "ivfpq") {
    options.kind = ItemIndexOptions::kIvfPq;
  } else {
    return InvalidArgument("--index_kind=" + FLAGS_index_kind + ": want flat or ivfpq");
  }
  options.nlist = FLAGS_nlist;
  options.pq_m = FLAGS_pq_m;
  options.pq_bits = FLAGS_pq_bits;
  if (FLAGS_nprobe != -1) options.nprobe = FLAGS_nprobe;
  options.train_sample = FLAGS_train_sample;
  return options;
}

namespace {

Status BuildIndex() {
  if (FLAGS_items.empty()) return InvalidArgument("--items (an item embedding file) is required");
  if (FLAGS_out.empty()) return InvalidArgument("--out (the index file to write) is required");
  ASSIGN_OR_RETURN(const ItemIndexOptions options, ItemIndexOptionsFromFlags());
  SetComputeThreads(ResolveComputeThreads(/*configured=*/0));

  ASSIGN_OR_RETURN(const EmbeddingMatrix items, ReadEmbeddingFile(FLAGS_items));
  if (items.kind != EmbeddingMatrix::kItem) {
    return InvalidArgument("--items=" + FLAGS_items + " holds " + EmbeddingKindName(items.kind) +
                           " embeddings; an index is built from an item file");
  }
  const Clock::time_point t0 = Clock::now();
  StatusOr<std::unique_ptr<ItemIndex>> index = ItemIndex::Build(items, options);
  if (!index.ok()) return index.status().WithContext("--items=" + FLAGS_items);
  const double build_s = Since(t0);
  RETURN_IF_ERROR((*index)->Save(FLAGS_out));
  std::printf("index=%s\n", (*index)->Describe().c_str());
  std::printf("index_items=%lld\n", static_cast<long long>((*index)->size()));
  std::printf("index_build_s=%.4g\n", build_s);
  std::printf("index_file=%s\n", FLAGS_out.c_str());
  return Status::OK();
}

// Appends "id:score" with the shortest decimal that reads back as the same float.
void AppendResult(uint64_t id, float score, std::string* line) {
  char buf[64];
  char* end = std::to_chars(buf, buf + sizeof(buf), id).ptr;
  *end++ = ':';
  end = std::to_chars(end, buf + sizeof(buf), score).ptr;
  line->append(buf, end);
}

Status Retrieve() {
  if (FLAGS_index.empty()) return InvalidArgument("--index (an item index file) is required");
  if (FLAGS_users.empty()) return InvalidArgument("--users (a user embedding file) is required");
  if (FLAGS_out.empty()) return InvalidArgument("--out (the TSV file to write) is required");
  if (FLAGS_k < 1) return InvalidArgument("--k=" + std::to_string(FLAGS_k) + ": want >= 1");
  if (FLAGS_nprobe == 0 || FLAGS_nprobe < -1) {
    return InvalidArgument("--nprobe=" + std::to_string(FLAGS_nprobe) +
                           ": want >= 1, or -1 for the index's own");
  }
  SetComputeThreads(ResolveComputeThreads(/*configured=*/0));
  ASSIGN_OR_RETURN(const std::unique_ptr<ItemIndex> index, ItemIndex::Load(FLAGS_index));
  ASSIGN_OR_RETURN(const EmbeddingMatrix users, ReadEmbeddingFile(FLAGS_users));
  if (users.kind != EmbeddingMatrix::kUser) {
    return InvalidArgument("--users=" + FLAGS_users + " holds " + EmbeddingKindName(users.kind) +
                           " embeddings; retrieve wants a user file");
  }
  if (users.dim != index->dim()) {
    return InvalidArgument("--users=" + FLAGS_users + " has dim " + std::to_string(users.dim) +
                           " and --index=" + FLAGS_index + " dim " + std::to_string(index->dim()));
  }

  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out, AtomicFile::Create(FLAGS_out));
  const int64_t k = FLAGS_k;
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  std::string text;
  double search_s = 0;
  for (int64_t begin = 0; begin < users.rows(); begin += kUserBlock) {
    const int64_t n = std::min(kUserBlock, users.rows() - begin);
    const Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(
        index->Search(&users.values[begin * users.dim], n, k, &ids, &scores, FLAGS_nprobe));
    search_s += Since(t0);
    text.clear();
    for (int64_t u = 0; u < n; ++u) {
      text += std::to_string(users.ids[begin + u]);
      text += '\t';
      text += std::to_string(users.scenario[begin + u]);
      text += '\t';
      for (int64_t r = 0; r < k && ids[u * k + r] != UINT64_MAX; ++r) {
        if (r > 0) text += ',';
        AppendResult(ids[u * k + r], scores[u * k + r], &text);
      }
      text += '\n';
    }
    RETURN_IF_ERROR(out->Append(text));
  }
  RETURN_IF_ERROR(out->Commit());
  std::printf("retrieve_index=%s\n", index->Describe().c_str());
  std::printf("retrieve_users=%lld\n", static_cast<long long>(users.rows()));
  std::printf("retrieve_k=%lld\n", static_cast<long long>(k));
  std::printf("retrieve_search_s=%.4g\n", search_s);
  std::printf("retrieve_queries_per_s=%.4g\n",
              search_s > 0 ? static_cast<double>(users.rows()) / search_s : 0.0);
  return Status::OK();
}

}  // namespace

int IndexCommand() { return ReportStatus("index", BuildIndex()); }
int RetrieveCommand() { return ReportStatus("retrieve", Retrieve()); }

}  // namespace moerec
