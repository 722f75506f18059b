#include "worker/matching_eval.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <utility>

#include "core/random.h"
#include "data/reader.h"

namespace moerec {
namespace {

// Plain little buffers for the all-gathers: values appended and read back in order.
class Packer {
 public:
  template <typename T>
  void Put(const T& v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void PutFloats(const float* v, int64_t n) {
    out_.append(reinterpret_cast<const char*>(v), n * sizeof(float));
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class Unpacker {
 public:
  explicit Unpacker(const std::string& in) : in_(in) {}
  bool done() const { return at_ >= in_.size(); }
  template <typename T>
  T Get() {
    T v;
    CHECK_LE(at_ + sizeof(T), in_.size());
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  const float* Floats(int64_t n) {
    CHECK_LE(at_ + n * sizeof(float), in_.size());
    const float* p = reinterpret_cast<const float*>(in_.data() + at_);
    at_ += n * sizeof(float);
    return p;
  }

 private:
  const std::string& in_;
  size_t at_ = 0;
};

void SortUnique(std::vector<int64_t>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

bool IsPositive(const Batch& b, int64_t i) {
  return b.label_mask[i * b.num_tasks] != 0 && b.labels[i * b.num_tasks] > 0.5f;
}

}  // namespace

StatusOr<std::unique_ptr<MatchingEvaluator>> MatchingEvaluator::Create(const JobConfig& config,
                                                                       StepRunner* runner,
                                                                       Communicator* workers) {
  if (runner->model()->matching() == nullptr) {
    return InvalidArgument("model: corpus evaluation needs a matching (two_tower) model");
  }
  if (config.data().items().empty()) {
    return InvalidArgument(
        "data.items: a two-tower model is evaluated over the item corpus; list the corpus "
        "shards (one sample per item) in data.items");
  }
  std::unique_ptr<MatchingEvaluator> e(new MatchingEvaluator(config, runner, workers));
  e->key_slot_ = runner->model()->matching()->key_slot();
  const RetrievalEvalConfig& r = config.train().retrieval();
  e->options_.ks.clear();
  for (const int k : r.ks()) {
    if (k < 1)
      return InvalidArgument("train.retrieval.ks: every K must be >= 1, got " + std::to_string(k));
    e->options_.ks.push_back(k);
  }
  if (e->options_.ks.empty()) e->options_.ks = {20, 50, 100};
  e->options_.num_scenarios = config.data().num_domains();
  // The names of the ranking report (d0, d1, ... without data.domain_names), so that the keys
  // of one metrics line agree.
  for (int d = 0; d < config.data().num_domains(); ++d) {
    e->options_.scenario_names.push_back(d < config.data().domain_names_size()
                                             ? config.data().domain_names(d)
                                             : "d" + std::to_string(d));
  }
  e->options_.topk.user_block = r.user_block();
  e->options_.topk.item_block = r.item_block();
  const auto& ks = e->options_.ks;
  e->select_ = r.select();
  if (e->select_.empty()) {
    const bool has50 = std::find(ks.begin(), ks.end(), 50) != ks.end();
    e->select_ = "recall@" + std::to_string(has50 ? 50 : ks[0]);
  } else {
    bool known = false;
    for (const int64_t k : ks) {
      for (const char* m : {"recall@", "hr@", "ndcg@"}) {
        known = known || e->select_ == m + std::to_string(k);
      }
    }
    if (!known) {
      return InvalidArgument("train.retrieval.select: \"" + e->select_ +
                             "\" is not recall@K, hr@K or ndcg@K with K among train.retrieval.ks");
    }
  }
  return e;
}

bool MatchingEvaluator::Key(const Batch& batch, int64_t i, uint64_t* key) const {
  const uint32_t begin = batch.offsets[key_slot_][i];
  if (batch.offsets[key_slot_][i + 1] == begin) return false;
  *key = batch.ids[key_slot_][begin];
  return true;
}

int MatchingEvaluator::Owner(uint64_t user) const {
  return static_cast<int>(Mix64(user) % static_cast<uint64_t>(workers_->size()));
}

Status MatchingEvaluator::LoadCorpus() {
  const DataConfig& data = config_.data();
  std::vector<std::string> paths(data.items().begin(), data.items().end());
  DataReader::Options o = DataReader::OptionsFromConfig(
      data.reader(), false, config_.train().seed(), workers_->rank(), workers_->size());
  ASSIGN_OR_RETURN(std::unique_ptr<DataReader> reader, DataReader::Open(paths, o));
  RETURN_IF_ERROR(reader->StartEpoch(0));
  const std::string slot = data.slots(key_slot_).name();
  std::vector<int64_t> domain_begin;
  while (true) {
    Batch b;
    ASSIGN_OR_RETURN(bool more, reader->Next(&b));
    if (!more) break;
    if (b.num_slots != data.slots_size()) {
      return InvalidArgument(paths[0] + ": the corpus shards hold " + std::to_string(b.num_slots) +
                             " slots; data.slots lists " + std::to_string(data.slots_size()));
    }
    // Sorted once, so that the sort inside every later encoding leaves the rows in place.
    SortBatchByDomain(&b, data.num_domains(), &domain_begin);
    for (int64_t i = 0; i < b.size; ++i) {
      uint64_t key = 0;
      if (!Key(b, i, &key)) {
        return InvalidArgument("data.items: a corpus sample has no id in slot '" + slot + "'");
      }
      local_keys_.push_back(key);
    }
    corpus_.push_back(std::move(b));
  }
  std::vector<std::string> all;
  RETURN_IF_ERROR(workers_->AllGather(std::string(reinterpret_cast<const char*>(local_keys_.data()),
                                                  local_keys_.size() * sizeof(uint64_t)),
                                      &all));
  int64_t index = 0;
  for (int w = 0; w < static_cast<int>(all.size()); ++w) {
    if (w == workers_->rank()) corpus_offset_ = index;
    Unpacker in(all[w]);
    while (!in.done()) {
      const uint64_t key = in.Get<uint64_t>();
      if (!item_index_.emplace(key, index).second) {
        return InvalidArgument("data.items: item " + std::to_string(key) + " (slot '" + slot +
                               "') is listed more than once in the corpus");
      }
      ++index;
    }
  }
  corpus_size_ = index;
  if (corpus_size_ == 0) return InvalidArgument("data.items: the corpus shards hold no sample");
  return Status::OK();
}

Status MatchingEvaluator::ForEachPositive(
    const std::vector<std::string>& paths,
    const std::function<void(const Batch&, int64_t, int64_t)>& fn) const {
  const DataConfig& data = config_.data();
  DataReader::Options o = DataReader::OptionsFromConfig(
      data.reader(), false, config_.train().seed(), workers_->rank(), workers_->size());
  ASSIGN_OR_RETURN(std::unique_ptr<DataReader> reader, DataReader::Open(paths, o));
  RETURN_IF_ERROR(reader->StartEpoch(0));
  while (true) {
    Batch b;
    ASSIGN_OR_RETURN(bool more, reader->Next(&b));
    if (!more) return Status::OK();
    for (int64_t i = 0; i < b.size; ++i) {
      uint64_t key = 0;
      if (!IsPositive(b, i) || !Key(b, i, &key)) continue;
      const auto it = item_index_.find(key);
      if (it != item_index_.end()) fn(b, i, it->second);
    }
  }
}

Status MatchingEvaluator::LoadTrainPositives() {
  if (!config_.train().retrieval().exclude_train_positives()) return Status::OK();
  const DataConfig& data = config_.data();
  const int w = workers_->size();
  std::vector<std::vector<int64_t>> out(w);  // (user, item) pairs per owner
  RETURN_IF_ERROR(
      ForEachPositive(std::vector<std::string>(data.train().begin(), data.train().end()),
                      [&](const Batch& b, int64_t i, int64_t item) {
                        auto& to = out[Owner(b.user[i])];
                        to.push_back(static_cast<int64_t>(b.user[i]));
                        to.push_back(item);
                      }));
  std::vector<int64_t> send_counts(w), send_displs(w), recv_counts, recv_displs(w);
  std::vector<int64_t> send;
  for (int r = 0; r < w; ++r) {
    send_displs[r] = static_cast<int64_t>(send.size());
    send_counts[r] = static_cast<int64_t>(out[r].size());
    send.insert(send.end(), out[r].begin(), out[r].end());
  }
  RETURN_IF_ERROR(workers_->ExchangeCounts(send_counts, &recv_counts));
  int64_t total = 0;
  for (int r = 0; r < w; ++r) {
    recv_displs[r] = total;
    total += recv_counts[r];
  }
  std::vector<int64_t> recv(std::max<int64_t>(total, 1));
  send.resize(std::max<size_t>(send.size(), 1));
  RETURN_IF_ERROR(workers_->AllToAllV(send.data(), send_counts, send_displs, recv.data(),
                                      recv_counts, recv_displs));
  for (int64_t i = 0; i + 1 < total; i += 2) {
    train_[static_cast<uint64_t>(recv[i])].push_back(recv[i + 1]);
  }
  for (auto& [user, items] : train_) SortUnique(&items);
  return Status::OK();
}

Status MatchingEvaluator::Load() {
  if (loaded_) return Status::OK();
  RETURN_IF_ERROR(LoadCorpus());
  RETURN_IF_ERROR(LoadTrainPositives());
  loaded_ = true;
  return Status::OK();
}

Status MatchingEvaluator::EmbedCorpus(int64_t step, Tensor* shard, int64_t* rows) {
  const int64_t d = runner_->model()->matching()->embedding_dim();
  shard->Resize({std::max<int64_t>(1, static_cast<int64_t>(local_keys_.size())), d});
  int64_t at = 0;
  Tensor out;
  for (Batch& b : corpus_) {
    RETURN_IF_ERROR(runner_->Encode(&b, step, /*users=*/false, &out));
    if (b.size > 0) std::memcpy(shard->data() + at * d, out.data(), b.size * d * sizeof(float));
    at += b.size;
  }
  *rows = at;
  return Status::OK();
}

StatusOr<RetrievalReport> MatchingEvaluator::Evaluate(const std::vector<std::string>& paths,
                                                      int64_t step) {
  RETURN_IF_ERROR(Load());
  const int64_t d = runner_->model()->matching()->embedding_dim();
  Tensor shard, vectors;
  int64_t local_items = 0;
  RETURN_IF_ERROR(EmbedCorpus(step, &shard, &local_items));
  RetrievalUsers users;
  std::vector<uint64_t> ids;
  RETURN_IF_ERROR(GatherQueries(paths, step, &vectors, &ids, &users));
  return EvaluateRetrievalDistributed(
      workers_, users, ConstMatView(shard.data(), local_items, d, d), corpus_offset_, options_);
}

StatusOr<std::unique_ptr<MatchingEvaluator::Export>> MatchingEvaluator::ExportEmbeddings(
    const std::vector<std::string>& paths, int64_t step) {
  if (workers_->size() != 1) {
    return FailedPrecondition("exporting embeddings runs in one process, not " +
                              std::to_string(workers_->size()) + " workers");
  }
  RETURN_IF_ERROR(Load());
  auto e = std::make_unique<Export>();
  int64_t rows = 0;
  RETURN_IF_ERROR(EmbedCorpus(step, &e->items, &rows));
  e->item_keys = local_keys_;
  RETURN_IF_ERROR(GatherQueries(paths, step, &e->users, &e->user_ids, &e->queries));
  return e;
}

Status MatchingEvaluator::GatherQueries(const std::vector<std::string>& paths, int64_t step,
                                        Tensor* vectors_out, std::vector<uint64_t>* user_ids,
                                        RetrievalUsers* users_out) {
  const int64_t d = runner_->model()->matching()->embedding_dim();
  // The split's queries read here: (user, scenario) -> held-out items; the first sample of each
  // pair is kept to be embedded.
  std::map<std::pair<uint64_t, int32_t>, std::vector<int64_t>> local;
  Batch reps;
  RETURN_IF_ERROR(ForEachPositive(paths, [&](const Batch& b, int64_t i, int64_t item) {
    auto [entry, fresh] = local.try_emplace({b.user[i], b.domain[i]});
    if (fresh) reps.AppendFrom(b, i, i + 1);
    entry->second.push_back(item);
  }));
  Packer mine;
  Tensor out;
  if (reps.size > 0) {
    RETURN_IF_ERROR(runner_->Encode(&reps, step, /*users=*/true, &out));
    for (int64_t r = 0; r < reps.size; ++r) {
      const std::vector<int64_t>& items = local.at({reps.user[r], reps.domain[r]});
      mine.Put(reps.user[r]);
      mine.Put(static_cast<int64_t>(reps.domain[r]));
      mine.Put(static_cast<int64_t>(items.size()));
      for (const int64_t item : items) mine.Put(item);
      mine.PutFloats(out.data() + r * d, d);
    }
  }
  std::vector<std::string> all;
  RETURN_IF_ERROR(workers_->AllGather(mine.str(), &all));

  // The queries this worker owns; a pair's vector is the lowest worker's.
  struct Query {
    std::vector<float> vector;
    std::vector<int64_t> heldout;
  };
  std::map<std::pair<uint64_t, int32_t>, Query> owned;
  for (const std::string& part : all) {
    Unpacker in(part);
    while (!in.done()) {
      const uint64_t user = in.Get<uint64_t>();
      const int32_t scenario = static_cast<int32_t>(in.Get<int64_t>());
      const int64_t n = in.Get<int64_t>();
      std::vector<int64_t> items(n);
      for (int64_t k = 0; k < n; ++k) items[k] = in.Get<int64_t>();
      const float* v = in.Floats(d);
      if (Owner(user) != workers_->rank()) continue;
      auto [q, fresh] = owned.try_emplace({user, scenario});
      if (fresh) q->second.vector.assign(v, v + d);
      q->second.heldout.insert(q->second.heldout.end(), items.begin(), items.end());
    }
  }
  const bool exclude = config_.train().retrieval().exclude_train_positives();
  RetrievalUsers& users = *users_out;
  users = RetrievalUsers();
  user_ids->clear();
  Tensor& vectors = *vectors_out;
  vectors.Resize({std::max<int64_t>(1, static_cast<int64_t>(owned.size())), d});
  int64_t n = 0;
  static const std::vector<int64_t> kNone;
  for (auto& [pair, q] : owned) {
    SortUnique(&q.heldout);
    const auto t = exclude ? train_.find(pair.first) : train_.end();
    const std::vector<int64_t>& seen = t == train_.end() ? kNone : t->second;
    std::vector<int64_t> fresh;
    std::set_difference(q.heldout.begin(), q.heldout.end(), seen.begin(), seen.end(),
                        std::back_inserter(fresh));
    if (fresh.empty()) continue;
    std::memcpy(vectors.data() + n * d, q.vector.data(), d * sizeof(float));
    users.scenario.push_back(pair.second);
    users.heldout.Add(fresh);
    users.train.Add(seen);
    user_ids->push_back(pair.first);
    ++n;
  }
  users.vectors = ConstMatView(vectors.data(), n, d, d);
  return Status::OK();
}

}  // namespace moerec
