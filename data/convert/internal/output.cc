#include "data/convert/internal/output.h"

#include <google/protobuf/text_format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "core/file_util.h"

namespace moerec::convert {
namespace {

namespace fs = std::filesystem;

constexpr char kDataConfigFile[] = "data.pbtxt";
constexpr char kSummaryFile[] = "summary.txt";

// OK when `dir` is absent, an empty directory, or (with overwrite) a previous output.
Status CheckReplaceable(const fs::path& dir, bool overwrite) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) return Status::OK();
  if (!fs::is_directory(st)) {
    return FailedPrecondition("output_dir " + dir.string() + " exists and is not a directory");
  }
  if (fs::is_empty(dir, ec)) return Status::OK();
  if (!overwrite) {
    return FailedPrecondition("output_dir " + dir.string() +
                              " exists and is not empty; set overwrite: true to replace a "
                              "previous output");
  }
  if (!fs::exists(dir / kDataConfigFile, ec)) {
    return FailedPrecondition("refusing to replace output_dir " + dir.string() + ": it holds no " +
                              kDataConfigFile + ", so it is not an output of moerec convert");
  }
  return Status::OK();
}

StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  std::string tmpl = prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoError("mkdtemp " + tmpl);
  return tmpl;
}

}  // namespace

void AppendRow(const Row& row, Batch* batch) {
  batch->domain.push_back(row.domain);
  batch->user.push_back(row.user);
  batch->labels.insert(batch->labels.end(), row.labels.begin(), row.labels.end());
  batch->label_mask.insert(batch->label_mask.end(), row.mask.begin(), row.mask.end());
  batch->dense.insert(batch->dense.end(), row.dense.begin(), row.dense.end());
  for (int s = 0; s < batch->num_slots; ++s) {
    batch->ids[s].insert(batch->ids[s].end(), row.slots[s].begin(), row.slots[s].end());
    batch->offsets[s].push_back(static_cast<uint32_t>(batch->ids[s].size()));
  }
  ++batch->size;
}

OutputWriter::OutputWriter(const Options& options, const SourceSchema& schema) : options_(options) {
  header_.set_num_tasks(static_cast<int>(schema.task_names.size()));
  header_.set_num_slots(static_cast<int>(schema.slots.size()));
  header_.set_num_dense(schema.num_dense);
  header_.set_num_domains(static_cast<int>(schema.domain_names.size()));
  for (const SlotSpec& slot : schema.slots) header_.add_slot_names(slot.name());

  fs::path out = fs::absolute(options_.output_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  final_dir_ = out.string();

  data_config_.set_num_domains(header_.num_domains());
  data_config_.set_num_tasks(header_.num_tasks());
  for (const std::string& name : schema.domain_names) data_config_.add_domain_names(name);
  for (const std::string& name : schema.task_names) data_config_.add_task_names(name);
  for (const SlotSpec& slot : schema.slots) *data_config_.add_slots() = slot;
  data_config_.set_num_dense(schema.num_dense);
  for (int split = 0; split < kNumSplits; ++split) {
    if (!options_.enabled[split]) continue;
    const std::string dir = (out / kSplitNames[split]).string();
    if (split == 0) data_config_.add_train(dir);
    if (split == 1) data_config_.add_validation(dir);
    if (split == 2) data_config_.add_test(dir);
    parts_[split].pending.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
  }
}

StatusOr<std::unique_ptr<OutputWriter>> OutputWriter::Create(const Options& options,
                                                             const SourceSchema& schema) {
  std::unique_ptr<OutputWriter> w(new OutputWriter(options, schema));
  const fs::path out(w->final_dir_);
  RETURN_IF_ERROR(CheckReplaceable(out, options.overwrite));
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  if (ec) return IoError("create " + out.parent_path().string() + ": " + ec.message());
  ASSIGN_OR_RETURN(w->staging_dir_, MakeTempDir(w->final_dir_ + ".tmp-"));
  for (int split = 0; split < kNumSplits; ++split) {
    if (!options.enabled[split]) continue;
    fs::create_directory(fs::path(w->staging_dir_) / kSplitNames[split], ec);
    if (ec) return IoError("create " + w->staging_dir_ + ": " + ec.message());
  }
  return w;
}

OutputWriter::~OutputWriter() {
  for (Part& part : parts_) part.writer.reset();  // removes unfinished .tmp shards
  if (!committed_ && !staging_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(staging_dir_, ec);
  }
}

Status OutputWriter::OpenShard(int split) {
  Part& part = parts_[split];
  char name[32];
  std::snprintf(name, sizeof(name), "part-%05d.mrs", part.next_index++);
  const std::string path = staging_dir_ + "/" + kSplitNames[split] + "/" + name;
  ASSIGN_OR_RETURN(part.writer, ShardWriter::Open(path, header_, options_.block_samples));
  part.in_shard = 0;
  return Status::OK();
}

Status OutputWriter::CloseShard(int split) {
  Part& part = parts_[split];
  RETURN_IF_ERROR(Flush(split));
  RETURN_IF_ERROR(part.writer->Close());
  part.writer.reset();
  ++shards_written_;
  return Status::OK();
}

Status OutputWriter::Flush(int split) {
  Part& part = parts_[split];
  if (part.pending.size == 0) return Status::OK();
  RETURN_IF_ERROR(part.writer->Append(part.pending));
  part.pending.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
  return Status::OK();
}

Status OutputWriter::Add(int split, const Row& row) {
  CHECK(options_.enabled[split]) << "row assigned to disabled split " << split;
  Part& part = parts_[split];
  if (part.writer == nullptr) RETURN_IF_ERROR(OpenShard(split));
  AppendRow(row, &part.pending);
  ++part.in_shard;
  if (part.pending.size >= options_.block_samples) RETURN_IF_ERROR(Flush(split));
  if (part.in_shard >= options_.samples_per_shard) RETURN_IF_ERROR(CloseShard(split));
  return Status::OK();
}

Status OutputWriter::WriteCorpus(const std::vector<Row>& rows) {
  CHECK(!closed_);
  const std::string dir = staging_dir_ + "/items";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create: " + ec.message());
  ASSIGN_OR_RETURN(std::unique_ptr<ShardWriter> writer,
                   ShardWriter::Open(dir + "/part-00000.mrs", header_, options_.block_samples));
  Batch block;
  block.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
  for (const Row& row : rows) {
    AppendRow(row, &block);
    if (block.size >= options_.block_samples) {
      RETURN_IF_ERROR(writer->Append(block));
      block.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
    }
  }
  if (block.size > 0) RETURN_IF_ERROR(writer->Append(block));
  RETURN_IF_ERROR(writer->Close());
  ++shards_written_;
  data_config_.add_items((fs::path(final_dir_) / "items").string());
  return Status::OK();
}

Status OutputWriter::Close() {
  CHECK(!closed_);
  for (int split = 0; split < kNumSplits; ++split) {
    if (!options_.enabled[split]) continue;
    Part& part = parts_[split];
    // A split that got no rows still gets one (empty) shard, so its directory is readable.
    if (part.writer == nullptr && part.next_index == 0) RETURN_IF_ERROR(OpenShard(split));
    if (part.writer != nullptr) RETURN_IF_ERROR(CloseShard(split));
  }
  closed_ = true;
  return Status::OK();
}

Status OutputWriter::Commit(const std::string& summary_text) {
  CHECK(closed_ && !committed_);
  std::string text;
  CHECK(google::protobuf::TextFormat::PrintToString(data_config_, &text));
  text = "# moerec DataConfig written by `moerec convert`" +
         (options_.origin.empty() ? std::string() : " from " + options_.origin) +
         ".\n# Paste it inside `data { ... }` of a job config.\n" + text;
  RETURN_IF_ERROR(WriteFileAtomically(staging_dir_ + "/" + kSummaryFile, summary_text));
  RETURN_IF_ERROR(WriteFileAtomically(staging_dir_ + "/" + kDataConfigFile, text));

  const fs::path out(final_dir_);
  RETURN_IF_ERROR(CheckReplaceable(out, options_.overwrite));
  std::error_code ec;
  if (!fs::exists(out, ec) || fs::is_empty(out, ec)) {
    // rename(2) replaces an empty directory.
    RETURN_IF_ERROR(RenameDurably(staging_dir_, out));
  } else {
    // Move the previous output aside (onto an empty directory of our own), then swap in.
    ASSIGN_OR_RETURN(const std::string old_dir, MakeTempDir(final_dir_ + ".old-"));
    if (Status s = RenameDurably(out, old_dir); !s.ok()) {
      fs::remove(old_dir, ec);
      return s;
    }
    Status s = RenameDurably(staging_dir_, out);
    if (!s.ok()) {
      ::rename(old_dir.c_str(), out.c_str());
      return s;
    }
    fs::remove_all(old_dir, ec);
  }
  committed_ = true;
  return Status::OK();
}

}  // namespace moerec::convert
