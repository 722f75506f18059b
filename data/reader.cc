#include "data/reader.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <system_error>
#include <utility>

#include "core/random.h"

namespace moerec {
namespace {

Status ValidateOptions(const DataReader::Options& o) {
  const auto bad = [](const std::string& field, int64_t value, const std::string& allowed) {
    return InvalidArgument("reader option " + field + " = " + std::to_string(value) + " must be " +
                           allowed);
  };
  if (o.batch_size < 1) return bad("batch_size", o.batch_size, ">= 1");
  if (o.prefetch_batches < 1) return bad("prefetch_batches", o.prefetch_batches, ">= 1");
  if (o.threads < 1 || o.threads > 256) return bad("threads", o.threads, "in [1, 256]");
  if (o.shuffle_buffer < 0) return bad("shuffle_buffer", o.shuffle_buffer, ">= 0");
  if (o.num_workers < 1) return bad("num_workers", o.num_workers, ">= 1");
  if (o.worker_index < 0 || o.worker_index >= o.num_workers) {
    return bad("worker_index", o.worker_index,
               "in [0, num_workers = " + std::to_string(o.num_workers) + ")");
  }
  return Status::OK();
}

// Files and directories to the list of shard files (a directory's *.mrs files, sorted).
Status ExpandPaths(const std::vector<std::string>& paths, std::vector<std::string>* files) {
  namespace fs = std::filesystem;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!fs::exists(st)) return NotFound(p + ": no such file or directory");
    if (!fs::is_directory(st)) {
      files->push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == kShardExtension && it->is_regular_file()) {
        found.push_back(it->path().string());
      }
    }
    if (ec) return IoError("list " + p + ": " + ec.message());
    if (found.empty()) {
      return NotFound(p + ": directory holds no *" + std::string(kShardExtension) + " files");
    }
    std::sort(found.begin(), found.end());
    files->insert(files->end(), found.begin(), found.end());
  }
  return Status::OK();
}

// InvalidArgument naming the first header field in which `b` differs from `a`.
Status SameSchema(const ShardReader& a, const ShardReader& b) {
  const ShardHeader& x = a.header();
  const ShardHeader& y = b.header();
  const auto differ = [&](const std::string& field, const std::string& xv, const std::string& yv) {
    return InvalidArgument(b.path() + ": " + field + " " + yv + " differs from " + xv + " in " +
                           a.path());
  };
  const auto num = [](int64_t v) { return std::to_string(v); };
  if (x.num_tasks() != y.num_tasks())
    return differ("num_tasks", num(x.num_tasks()), num(y.num_tasks()));
  if (x.num_slots() != y.num_slots())
    return differ("num_slots", num(x.num_slots()), num(y.num_slots()));
  if (x.num_dense() != y.num_dense())
    return differ("num_dense", num(x.num_dense()), num(y.num_dense()));
  if (x.num_domains() != y.num_domains()) {
    return differ("num_domains", num(x.num_domains()), num(y.num_domains()));
  }
  if (x.has_truth() != y.has_truth())
    return differ("has_truth", num(x.has_truth()), num(y.has_truth()));
  for (int s = 0; s < x.num_slots(); ++s) {
    if (x.slot_names(s) != y.slot_names(s)) {
      return differ("slot " + num(s) + " name", x.slot_names(s), y.slot_names(s));
    }
  }
  return Status::OK();
}

}  // namespace

DataReader::Options DataReader::OptionsFromConfig(const ReaderConfig& config, bool shuffle,
                                                  uint64_t seed, int worker_index,
                                                  int num_workers) {
  Options o;
  o.batch_size = config.batch_size();
  o.prefetch_batches = config.prefetch_batches();
  o.threads = config.threads();
  o.shuffle_buffer = config.shuffle_buffer();
  o.seed = seed;
  o.shuffle = shuffle;
  o.worker_index = worker_index;
  o.num_workers = num_workers;
  return o;
}

StatusOr<std::unique_ptr<DataReader>> DataReader::Open(const std::vector<std::string>& paths,
                                                       const Options& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  if (paths.empty()) return InvalidArgument("DataReader: no data files or directories given");
  std::vector<std::string> files;
  RETURN_IF_ERROR(ExpandPaths(paths, &files));
  std::vector<std::unique_ptr<ShardReader>> readers;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(std::unique_ptr<ShardReader> r, ShardReader::Open(f));
    if (!readers.empty()) RETURN_IF_ERROR(SameSchema(*readers.front(), *r));
    readers.push_back(std::move(r));
  }
  return std::unique_ptr<DataReader>(new DataReader(options, std::move(files), std::move(readers)));
}

DataReader::DataReader(Options options, std::vector<std::string> paths,
                       std::vector<std::unique_ptr<ShardReader>> files)
    : options_(options), paths_(std::move(paths)), files_(std::move(files)) {
  int64_t total = 0;
  for (const auto& f : files_) total += f->num_samples();
  // A block goes to the worker whose range [w * total / W, (w + 1) * total / W) holds its middle.
  int64_t start = 0;
  for (int fi = 0; fi < static_cast<int>(files_.size()); ++fi) {
    for (int b = 0; b < files_[fi]->num_blocks(); ++b) {
      const int64_t n = files_[fi]->block_samples(b);
      const __int128 mid2 = 2 * static_cast<__int128>(start) + n;
      const int owner = static_cast<int>(
          std::min<__int128>(options_.num_workers - 1, mid2 * options_.num_workers / (2 * total)));
      if (owner == options_.worker_index) {
        blocks_.push_back(BlockRef{fi, b, n});
        num_samples_ += n;
      }
      start += n;
    }
  }
  window_ = 2 * options_.threads + 2;
  if (options_.shuffle && options_.shuffle_buffer > 0) {
    shuffle_ = std::make_unique<ShuffleBuffer>(options_.shuffle_buffer);
  }
}

DataReader::~DataReader() { StopEpoch(); }

void DataReader::StopEpoch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  decode_cv_.notify_all();
  ready_cv_.notify_all();
  output_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

Status DataReader::StartEpoch(int epoch) {
  if (epoch < 0) return InvalidArgument("epoch " + std::to_string(epoch) + " must be >= 0");
  StopEpoch();
  // No thread runs now: reset the epoch state, keeping buffers.
  Rng rng(HashCombine(HashCombine(options_.seed, static_cast<uint64_t>(epoch)),
                      static_cast<uint64_t>(options_.worker_index)));
  order_.resize(blocks_.size());
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) Shuffle(&order_, &rng);
  next_claim_ = 0;
  next_consume_ = 0;
  ring_.resize(window_);
  ring_status_.assign(window_, Status::OK());
  for (auto& block : ring_) {
    if (block != nullptr) free_blocks_.push_back(std::move(block));
  }
  if (current_ != nullptr) free_blocks_.push_back(std::move(current_));
  current_pos_ = 0;
  if (shuffle_ != nullptr) {
    shuffle_->Clear();
    while (auto block = shuffle_->PopFreeBlock()) free_blocks_.push_back(std::move(block));
  }
  if (free_blocks_.size() > static_cast<size_t>(window_) + 2) free_blocks_.resize(window_ + 2);
  for (Output& o : outputs_) {
    if (o.status.ok() && !o.end) free_batches_.push_back(std::move(o.batch));
  }
  outputs_.clear();
  finished_ = false;
  failed_ = Status::OK();
  stop_ = false;
  started_ = true;
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { DecodeLoop(); });
  const uint64_t assembler_seed = rng.Next();
  threads_.emplace_back([this, assembler_seed] { AssembleLoop(assembler_seed); });
  return Status::OK();
}

void DataReader::DecodeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t total = static_cast<int64_t>(order_.size());
  while (true) {
    decode_cv_.wait(lock, [&] {
      return stop_ || next_claim_ >= total || next_claim_ < next_consume_ + window_;
    });
    if (stop_ || next_claim_ >= total) return;
    const int64_t seq = next_claim_++;
    const BlockRef ref = blocks_[order_[seq]];
    std::unique_ptr<Batch> block;
    if (!free_blocks_.empty()) {
      block = std::move(free_blocks_.back());
      free_blocks_.pop_back();
    }
    lock.unlock();
    if (block == nullptr) block = std::make_unique<Batch>();
    Status s = files_[ref.file]->ReadBlock(ref.block, block.get());
    lock.lock();
    const int slot = static_cast<int>(seq % window_);
    ring_[slot] = std::move(block);
    ring_status_[slot] = std::move(s);
    if (seq == next_consume_) ready_cv_.notify_all();
  }
}

std::unique_ptr<Batch> DataReader::NextBlock(Status* status) {
  std::unique_lock<std::mutex> lock(mu_);
  if (next_consume_ >= static_cast<int64_t>(order_.size())) return nullptr;
  const int slot = static_cast<int>(next_consume_ % window_);
  ready_cv_.wait(lock, [&] { return stop_ || ring_[slot] != nullptr; });
  if (stop_) return nullptr;
  std::unique_ptr<Batch> block = std::move(ring_[slot]);
  Status s = std::move(ring_status_[slot]);
  ring_status_[slot] = Status::OK();
  ++next_consume_;
  decode_cv_.notify_all();
  if (!s.ok()) {
    *status = std::move(s);
    free_blocks_.push_back(std::move(block));
    return nullptr;
  }
  return block;
}

bool DataReader::NextSample(Status* status) {
  while (current_ == nullptr || current_pos_ >= current_->size) {
    if (current_ != nullptr) RecycleBlock(std::move(current_));
    current_ = NextBlock(status);
    current_pos_ = 0;
    if (current_ == nullptr) return false;
  }
  return true;
}

void DataReader::RecycleBlock(std::unique_ptr<Batch> block) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_blocks_.size() < static_cast<size_t>(window_) + 2) {
    free_blocks_.push_back(std::move(block));
  }
}

Batch DataReader::TakeFreeBatch() {
  Batch b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_batches_.empty()) {
      b = std::move(free_batches_.back());
      free_batches_.pop_back();
    }
  }
  b.Reset(header().num_tasks(), header().num_slots(), header().num_dense());
  return b;
}

bool DataReader::Emit(Output output) {
  std::unique_lock<std::mutex> lock(mu_);
  output_cv_.wait(lock, [&] {
    return stop_ || outputs_.size() < static_cast<size_t>(options_.prefetch_batches);
  });
  if (stop_) return false;
  outputs_.push_back(std::move(output));
  output_cv_.notify_all();
  return true;
}

void DataReader::AssembleLoop(uint64_t rng_seed) {
  Rng rng(rng_seed);
  const int64_t batch_size = options_.batch_size;
  Batch batch = TakeFreeBatch();
  // Hands the batch in progress to Next (if it holds anything). False when stopping.
  const auto flush = [&]() {
    if (batch.size == 0) return true;
    Output out;
    out.batch = std::move(batch);
    if (!Emit(std::move(out))) return false;
    batch = TakeFreeBatch();
    return true;
  };
  Status status;
  if (shuffle_ != nullptr) {
    bool exhausted = false;
    while (true) {
      while (!exhausted && shuffle_->wants_more()) {
        std::unique_ptr<Batch> block = NextBlock(&status);
        if (block == nullptr) {
          exhausted = true;
          break;
        }
        shuffle_->Add(std::move(block));
      }
      if (!status.ok() || shuffle_->size() == 0) break;
      shuffle_->TakeRandom(&rng, &batch);
      while (auto block = shuffle_->PopFreeBlock()) RecycleBlock(std::move(block));
      if (batch.size == batch_size && !flush()) return;
    }
  } else {
    while (NextSample(&status)) {
      const int64_t take = std::min(batch_size - batch.size, current_->size - current_pos_);
      batch.AppendFrom(*current_, current_pos_, current_pos_ + take);
      current_pos_ += take;
      if (batch.size == batch_size && !flush()) return;
    }
  }
  if (!flush()) return;
  Output last;
  last.status = status;
  last.end = status.ok();
  Emit(std::move(last));
}

StatusOr<bool> DataReader::Next(Batch* out) {
  if (!started_) return FailedPrecondition("DataReader::Next called before StartEpoch");
  if (!failed_.ok()) return failed_;
  if (finished_) return false;
  Output o;
  {
    std::unique_lock<std::mutex> lock(mu_);
    output_cv_.wait(lock, [&] { return !outputs_.empty(); });
    o = std::move(outputs_.front());
    outputs_.pop_front();
    output_cv_.notify_all();
    if (o.status.ok() && !o.end) {
      std::swap(*out, o.batch);
      if (free_batches_.size() < static_cast<size_t>(options_.prefetch_batches) + 2) {
        free_batches_.push_back(std::move(o.batch));
      }
    }
  }
  if (!o.status.ok()) {
    failed_ = o.status;
    return failed_;
  }
  if (o.end) {
    finished_ = true;
    return false;
  }
  return true;
}

}  // namespace moerec
