#include "serving/item_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <new>
#include <system_error>
#include <utility>

#include "core/checksum.h"
#include "core/file_util.h"
#include "core/random.h"

namespace moerec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "item index files are little-endian and written by memcpy");

// Header: magic[10] u16 version, u32 kind, u64 rows, u64 dim, i32 nlist, pq_m, pq_bits, nprobe.
constexpr char kMagic[10] = {'M', 'O', 'E', 'R', 'E', 'C', '-', 'I', 'D', 'X'};
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderBytes = 48;
constexpr size_t kCrcBytes = 4;
constexpr size_t kChunkBytes = size_t{16} << 20;  // FileReader::Read's limit
constexpr uint64_t kPadding = std::numeric_limits<uint64_t>::max();
using FaissId = faiss::Index::idx_t;  // faiss 1.7.3; later versions also name it faiss::idx_t
// Queries per faiss call: bounds the (block, K) label and distance buffers.
constexpr int64_t kQueryBlock = 8192;

std::string KindName(ItemIndexOptions::Kind kind) {
  return kind == ItemIndexOptions::kFlat ? "flat" : "ivfpq";
}

// The divisor of d nearest d / 4, the smaller on a tie.
int DefaultPqM(int64_t d) {
  int64_t best = 1;
  double best_gap = std::abs(1.0 - d / 4.0);
  for (int64_t m = 2; m <= d; ++m) {
    if (d % m != 0) continue;
    const double gap = std::abs(static_cast<double>(m) - d / 4.0);
    if (gap < best_gap) {
      best = m;
      best_gap = gap;
    }
  }
  return static_cast<int>(best);
}

// Streams faiss's writes into an AtomicFile; a failed append is kept and reported by Save.
class AtomicFileWriter : public faiss::IOWriter {
 public:
  explicit AtomicFileWriter(AtomicFile* out) : out_(out) { name = out->path(); }
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    if (!status_.ok()) return 0;
    // faiss writes empty vectors with a null pointer, on which zlib's crc32 would restart at 0.
    if (size * nitems == 0) return nitems;
    status_ = out_->Append(ptr, size * nitems);
    return status_.ok() ? nitems : 0;
  }
  const Status& status() const { return status_; }

 private:
  AtomicFile* out_;
  Status status_;
};

// Feeds faiss at most `limit` bytes of a FileReader; counts what faiss consumed.
class BoundedFileReader : public faiss::IOReader {
 public:
  BoundedFileReader(FileReader* in, uint64_t limit) : in_(in), left_(limit) { name = in->path(); }
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    // Whole items only, within the bound.
    const uint64_t items = std::min<uint64_t>(nitems, left_ / size);
    char* out = static_cast<char*>(ptr);
    uint64_t done = 0;
    const uint64_t want = items * size;
    while (done < want) {
      size_t got = 0;
      if (!in_->Read(std::min<uint64_t>(kChunkBytes, want - done), &chunk_, &got).ok() ||
          got == 0) {
        break;
      }
      std::memcpy(out + done, chunk_.data(), got);
      done += got;
    }
    left_ -= done;
    consumed_ += done;
    return done / size;
  }
  uint64_t consumed() const { return consumed_; }

 private:
  FileReader* in_;
  uint64_t left_;
  uint64_t consumed_ = 0;
  std::string chunk_;
};

Status ReadExactly(FileReader* in, void* dst, size_t n, const char* what) {
  std::string chunk;
  char* out = static_cast<char*>(dst);
  for (size_t done = 0; done < n;) {
    const size_t want = std::min(kChunkBytes, n - done);
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(want, &chunk, &got));
    if (got < want) {
      return Corruption(in->path() + ": truncated in the " + what +
                        " (the file changed while read)");
    }
    std::memcpy(out + done, chunk.data(), got);
    done += got;
  }
  return Status::OK();
}

// CRC-32 of the first size - 4 bytes of the file against its last 4.
Status CheckFileCrc(const std::string& path, uint64_t file_bytes) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(path));
  std::string chunk;
  uint32_t crc = 0;
  for (uint64_t left = file_bytes - kCrcBytes; left > 0;) {
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(std::min<uint64_t>(kChunkBytes, left), &chunk, &got));
    if (got == 0) return Corruption(path + ": truncated (the file changed while read)");
    crc = Crc32Extend(crc, chunk.data(), got);
    left -= got;
  }
  uint32_t stored = 0;
  RETURN_IF_ERROR(ReadExactly(in.get(), &stored, kCrcBytes, "checksum"));
  if (stored != crc) {
    char message[96];
    std::snprintf(message, sizeof(message), "checksum mismatch: stored crc32 %08x, contents %08x",
                  stored, crc);
    return Corruption(path + ": " + message);
  }
  return Status::OK();
}

// Options with nlist and pq_m resolved for `rows` items of width `dim`, or InvalidArgument.
StatusOr<ItemIndexOptions> ResolveOptions(ItemIndexOptions o, int64_t rows, int64_t dim) {
  if (o.kind != ItemIndexOptions::kFlat && o.kind != ItemIndexOptions::kIvfPq) {
    return InvalidArgument("ItemIndexOptions.kind " + std::to_string(o.kind) +
                           " is not kFlat or kIvfPq");
  }
  if (o.kind == ItemIndexOptions::kFlat) return o;
  auto bad = [](const std::string& m) { return InvalidArgument("ItemIndexOptions." + m); };
  if (o.nlist < 0) return bad("nlist " + std::to_string(o.nlist) + " is negative (0 = auto)");
  if (o.pq_m < 0) return bad("pq_m " + std::to_string(o.pq_m) + " is negative (0 = auto)");
  if (o.pq_bits < 1 || o.pq_bits > 16) {
    return bad("pq_bits " + std::to_string(o.pq_bits) + " is not in [1, 16]");
  }
  if (o.nprobe < 1) return bad("nprobe " + std::to_string(o.nprobe) + " is not >= 1");
  if (o.train_sample < 0) {
    return bad("train_sample " + std::to_string(o.train_sample) + " is negative (0 = all)");
  }
  const int64_t train_rows =
      o.train_sample == 0 ? rows : std::min<int64_t>(rows, static_cast<int64_t>(o.train_sample));
  const std::string train_what = train_rows == rows
                                     ? std::to_string(rows) + " items"
                                     : std::to_string(train_rows) + " training rows (train_sample)";
  if (o.nlist == 0) {
    o.nlist = static_cast<int>(std::clamp<int64_t>(
        std::llround(4.0 * std::sqrt(static_cast<double>(rows))), 1, train_rows));
  } else if (o.nlist > train_rows) {
    return bad("nlist " + std::to_string(o.nlist) + " is more than the " + train_what +
               " that train its k-means");
  }
  if (o.pq_m == 0) {
    o.pq_m = DefaultPqM(dim);
  } else if (dim % o.pq_m != 0) {
    return bad("pq_m " + std::to_string(o.pq_m) + " does not divide the dim " +
               std::to_string(dim));
  }
  if ((int64_t{1} << o.pq_bits) > train_rows) {
    return bad("pq_bits " + std::to_string(o.pq_bits) + " needs at least 2^" +
               std::to_string(o.pq_bits) + " = " + std::to_string(int64_t{1} << o.pq_bits) +
               " training rows, and there are " + train_what +
               "; lower pq_bits or use a flat index");
  }
  return o;
}

// The rows that train an IVF-PQ index: all of them, or train_sample drawn with the seed.
std::vector<float> TrainingRows(const EmbeddingMatrix& items, const ItemIndexOptions& o) {
  const int64_t n = items.rows();
  if (o.train_sample == 0 || o.train_sample >= n) return items.values;
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(o.seed);
  // Partial Fisher-Yates: the first train_sample entries are a uniform sample.
  for (int64_t i = 0; i < o.train_sample; ++i) {
    std::swap(order[i], order[i + static_cast<int64_t>(rng.Below(n - i))]);
  }
  order.resize(o.train_sample);
  std::sort(order.begin(), order.end());
  std::vector<float> rows(order.size() * items.dim);
  for (size_t i = 0; i < order.size(); ++i) {
    std::memcpy(&rows[i * items.dim], &items.values[order[i] * items.dim],
                items.dim * sizeof(float));
  }
  return rows;
}

// Runs a faiss call, turning what it throws into a Status.
template <typename Fn>
Status CallFaiss(const std::string& what, Fn&& fn) {
  try {
    fn();
  } catch (const faiss::FaissException& e) {
    return Internal(what + ": faiss: " + e.msg);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted(what + ": out of memory");
  } catch (const std::exception& e) {
    return Internal(what + ": " + e.what());
  }
  return Status::OK();
}

}  // namespace

ItemIndex::ItemIndex(const ItemIndexOptions& options, int64_t dim, std::vector<uint64_t> ids,
                     std::unique_ptr<faiss::Index> index)
    : options_(options), dim_(dim), ids_(std::move(ids)), index_(std::move(index)) {
  CHECK(index_ != nullptr);
  CHECK_EQ(index_->ntotal, static_cast<FaissId>(ids_.size()));
}

ItemIndex::~ItemIndex() = default;

StatusOr<std::unique_ptr<ItemIndex>> ItemIndex::Build(const EmbeddingMatrix& items,
                                                      const ItemIndexOptions& options) {
  const int64_t n = items.rows();
  const int64_t d = items.dim;
  if (n < 1) return InvalidArgument("ItemIndex::Build: no items");
  if (d < 1 || d > kMaxEmbeddingDim) {
    return InvalidArgument("ItemIndex::Build: dim " + std::to_string(d) + " is not in [1, " +
                           std::to_string(kMaxEmbeddingDim) + "]");
  }
  if (static_cast<int64_t>(items.values.size()) != n * d) {
    return InvalidArgument("ItemIndex::Build: " + std::to_string(items.values.size()) +
                           " values for " + std::to_string(n) + " items of dim " +
                           std::to_string(d));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (items.ids[i] == kPadding) {
      return InvalidArgument("ItemIndex::Build: item " + std::to_string(i) +
                             " has id 2^64-1, the padding of search results");
    }
  }
  for (size_t i = 0; i < items.values.size(); ++i) {
    if (!std::isfinite(items.values[i])) {
      return InvalidArgument("ItemIndex::Build: item " + std::to_string(i / d) + " column " +
                             std::to_string(i % d) + " is not finite");
    }
  }
  ASSIGN_OR_RETURN(const ItemIndexOptions o, ResolveOptions(options, n, d));

  std::unique_ptr<faiss::Index> index;
  const Status built = CallFaiss("ItemIndex::Build", [&] {
    if (o.kind == ItemIndexOptions::kFlat) {
      index = std::make_unique<faiss::IndexFlatIP>(d);
    } else {
      auto ivf = std::make_unique<faiss::IndexIVFPQ>(new faiss::IndexFlatIP(d), d, o.nlist, o.pq_m,
                                                     o.pq_bits, faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      // Unit-norm centroids (faiss's default for inner product): a centroid's norm would
      // otherwise decide its cell's size.
      ivf->cp.spherical = true;
      ivf->cp.seed = static_cast<int>(o.seed & 0x7fffffff);
      ivf->pq.cp.seed = static_cast<int>(Mix64(o.seed) & 0x7fffffff);
      ivf->nprobe = o.nprobe;
      const std::vector<float> train = TrainingRows(items, o);
      ivf->train(static_cast<FaissId>(train.size() / d), train.data());
      index = std::move(ivf);
    }
    index->add(n, items.values.data());
  });
  RETURN_IF_ERROR(built);
  return std::unique_ptr<ItemIndex>(new ItemIndex(o, d, items.ids, std::move(index)));
}

Status ItemIndex::Save(const std::string& path) const {
  char header[kHeaderBytes] = {};
  const uint32_t kind = options_.kind;
  const uint64_t rows = ids_.size();
  const uint64_t dim = dim_;
  const int32_t ivf[4] = {options_.nlist, options_.pq_m, options_.pq_bits, options_.nprobe};
  std::memcpy(header, kMagic, sizeof(kMagic));
  std::memcpy(header + 10, &kVersion, 2);
  std::memcpy(header + 12, &kind, 4);
  std::memcpy(header + 16, &rows, 8);
  std::memcpy(header + 24, &dim, 8);
  if (options_.kind == ItemIndexOptions::kIvfPq) std::memcpy(header + 32, ivf, sizeof(ivf));

  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out, AtomicFile::Create(path));
  RETURN_IF_ERROR(out->Append(header, kHeaderBytes));
  RETURN_IF_ERROR(out->Append(ids_.data(), ids_.size() * sizeof(uint64_t)));
  AtomicFileWriter writer(out.get());
  const Status written =
      CallFaiss("write index " + path, [&] { faiss::write_index(index_.get(), &writer); });
  RETURN_IF_ERROR(writer.status());
  RETURN_IF_ERROR(written);
  const uint32_t crc = out->crc();
  RETURN_IF_ERROR(out->Append(&crc, kCrcBytes));
  return out->Commit();
}

StatusOr<std::unique_ptr<ItemIndex>> ItemIndex::Load(const std::string& path) {
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return NotFound(path + ": no such index file");
    return IoError(path + ": " + ec.message());
  }
  auto corrupt = [&path](const std::string& what) { return Corruption(path + ": " + what); };
  if (file_bytes < kHeaderBytes + kCrcBytes) {
    return corrupt("truncated: " + std::to_string(file_bytes) +
                   " bytes, shorter than the header and checksum of an item index file");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(path));
  char header[kHeaderBytes];
  RETURN_IF_ERROR(ReadExactly(in.get(), header, kHeaderBytes, "header"));
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not an item index file (bad magic: want \"MOEREC-IDX\")");
  }
  uint16_t version = 0;
  uint32_t kind = 0;
  uint64_t rows = 0;
  uint64_t dim = 0;
  int32_t ivf[4] = {};
  std::memcpy(&version, header + 10, 2);
  std::memcpy(&kind, header + 12, 4);
  std::memcpy(&rows, header + 16, 8);
  std::memcpy(&dim, header + 24, 8);
  std::memcpy(ivf, header + 32, sizeof(ivf));
  if (version != kVersion) {
    return corrupt("format version " + std::to_string(version) + ", this build reads version " +
                   std::to_string(kVersion));
  }
  if (kind != ItemIndexOptions::kFlat && kind != ItemIndexOptions::kIvfPq) {
    return corrupt("kind " + std::to_string(kind) + " is not 0 (flat) or 1 (ivfpq)");
  }
  if (dim < 1 || dim > static_cast<uint64_t>(kMaxEmbeddingDim)) {
    return corrupt("dim " + std::to_string(dim) + " is not in [1, " +
                   std::to_string(kMaxEmbeddingDim) + "]");
  }
  const uint64_t fixed = kHeaderBytes + kCrcBytes;
  if (rows < 1 || rows > (file_bytes - fixed) / sizeof(uint64_t)) {
    return corrupt("truncated: " + std::to_string(file_bytes) + " bytes cannot hold the " +
                   std::to_string(rows) + " item ids the header announces");
  }
  // The faiss bytes are parsed only once the whole file is known to be intact.
  RETURN_IF_ERROR(CheckFileCrc(path, file_bytes));

  std::vector<uint64_t> ids(rows);
  RETURN_IF_ERROR(ReadExactly(in.get(), ids.data(), rows * sizeof(uint64_t), "item ids"));
  const uint64_t faiss_bytes = file_bytes - fixed - rows * sizeof(uint64_t);
  BoundedFileReader reader(in.get(), faiss_bytes);
  std::unique_ptr<faiss::Index> index;
  const Status read =
      CallFaiss("faiss::read_index", [&] { index.reset(faiss::read_index(&reader)); });
  // The bytes are the ones Save wrote, so faiss refusing them means another writer or a
  // faiss that reads its format differently.
  if (read.code() == StatusCode::kInternal) return corrupt(read.message());
  RETURN_IF_ERROR(read);
  if (index == nullptr) return corrupt("faiss::read_index returned no index");
  if (reader.consumed() != faiss_bytes) {
    return corrupt(std::to_string(faiss_bytes - reader.consumed()) +
                   " bytes after the faiss index");
  }

  ItemIndexOptions o;
  o.kind = static_cast<ItemIndexOptions::Kind>(kind);
  o.train_sample = 0;
  o.seed = 0;
  if (index->d != static_cast<int64_t>(dim) || index->ntotal != static_cast<int64_t>(rows) ||
      index->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return corrupt("the faiss index (dim " + std::to_string(index->d) + ", " +
                   std::to_string(index->ntotal) + " vectors, metric " +
                   std::to_string(index->metric_type) + ") is not the header's inner-product " +
                   "index of " + std::to_string(rows) + " items of dim " + std::to_string(dim));
  }
  if (o.kind == ItemIndexOptions::kFlat) {
    if (dynamic_cast<const faiss::IndexFlatIP*>(index.get()) == nullptr) {
      return corrupt("the header says flat, and the faiss index is not an IndexFlatIP");
    }
  } else {
    const auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(index.get());
    if (ivfpq == nullptr) {
      return corrupt("the header says ivfpq, and the faiss index is not an IndexIVFPQ");
    }
    o.nlist = ivf[0];
    o.pq_m = ivf[1];
    o.pq_bits = ivf[2];
    o.nprobe = ivf[3];
    if (static_cast<int64_t>(ivfpq->nlist) != o.nlist ||
        static_cast<int64_t>(ivfpq->pq.M) != o.pq_m ||
        static_cast<int64_t>(ivfpq->pq.nbits) != o.pq_bits || o.nprobe < 1) {
      return corrupt("the header's nlist " + std::to_string(o.nlist) + ", pq_m " +
                     std::to_string(o.pq_m) + ", pq_bits " + std::to_string(o.pq_bits) +
                     ", nprobe " + std::to_string(o.nprobe) + " do not match the faiss index");
    }
  }
  return std::unique_ptr<ItemIndex>(
      new ItemIndex(o, static_cast<int64_t>(dim), std::move(ids), std::move(index)));
}

Status ItemIndex::Search(const float* queries, int64_t q, int64_t k, std::vector<uint64_t>* ids,
                         std::vector<float>* scores, int nprobe) const {
  CHECK(ids != nullptr && scores != nullptr);
  if (q < 0) return InvalidArgument("ItemIndex::Search: " + std::to_string(q) + " queries");
  if (k < 1) return InvalidArgument("ItemIndex::Search: k " + std::to_string(k) + " is not >= 1");
  if (nprobe == 0 || nprobe < -1) {
    return InvalidArgument("ItemIndex::Search: nprobe " + std::to_string(nprobe) +
                           " is not >= 1 (or -1 for the index's own)");
  }
  if (q > 0 && queries == nullptr) return InvalidArgument("ItemIndex::Search: null queries");
  for (int64_t i = 0; i < q * dim_; ++i) {
    if (!std::isfinite(queries[i])) {
      return InvalidArgument("ItemIndex::Search: query " + std::to_string(i / dim_) + " column " +
                             std::to_string(i % dim_) + " is not finite");
    }
  }
  ids->assign(q * k, kPadding);
  scores->assign(q * k, -std::numeric_limits<float>::infinity());
  faiss::SearchParametersIVF ivf_params;
  ivf_params.nprobe = nprobe == -1 ? options_.nprobe : nprobe;
  const faiss::SearchParameters* params =
      options_.kind == ItemIndexOptions::kIvfPq ? &ivf_params : nullptr;
  const int64_t block = std::max<int64_t>(1, std::min(kQueryBlock, q));
  std::vector<FaissId> labels(block * k);
  std::vector<float> distances(block * k);
  const int64_t n = size();
  for (int64_t begin = 0; begin < q; begin += block) {
    const int64_t rows = std::min(block, q - begin);
    RETURN_IF_ERROR(CallFaiss("ItemIndex::Search", [&] {
      index_->search(rows, queries + begin * dim_, k, distances.data(), labels.data(), params);
    }));
    for (int64_t i = 0; i < rows * k; ++i) {
      const FaissId label = labels[i];
      if (label < 0 || label >= n) continue;  // faiss's -1: fewer than k found
      (*ids)[begin * k + i] = ids_[label];
      (*scores)[begin * k + i] = distances[i];
    }
  }
  return Status::OK();
}

std::string ItemIndex::Describe() const {
  std::string s = KindName(options_.kind) + " inner-product index: " + std::to_string(size()) +
                  " items, dim " + std::to_string(dim_);
  if (options_.kind == ItemIndexOptions::kIvfPq) {
    s += ", nlist " + std::to_string(options_.nlist) + ", pq_m " + std::to_string(options_.pq_m) +
         " x " + std::to_string(options_.pq_bits) + " bits, nprobe " +
         std::to_string(options_.nprobe);
  }
  return s;
}

}  // namespace moerec
