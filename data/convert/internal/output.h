// OutputWriter builds a conversion's output in a staging directory beside output_dir and
// renames it into place in Commit, so output_dir is always either the previous complete output
// or the new complete one; destroying an uncommitted writer removes the staging directory.
//
// Layout: <out>/{train,validation,test}/part-NNNNN.mrs, with WriteCorpus <out>/items/ too (a split
// with fraction 0 is absent; an enabled split that received no rows gets one empty shard so it
// stays readable), <out>/data.pbtxt (a DataConfig in text format) and <out>/summary.txt. Not
// thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_OUTPUT_H_
#define MOEREC_DATA_CONVERT_INTERNAL_OUTPUT_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/convert/internal/row_source.h"
#include "data/convert/internal/split.h"
#include "data/shard.h"
#include "proto/config.pb.h"

namespace moerec::convert {

class OutputWriter {
 public:
  struct Options {
    std::string output_dir;               // required
    bool overwrite = false;               // replace a previous output (one with a data.pbtxt)
    int64_t samples_per_shard = 1000000;  // >= 1
    int block_samples = 4096;             // >= 1
    std::array<bool, kNumSplits> enabled = {true, true, true};  // fraction > 0
    std::string origin;  // named in data.pbtxt's comment, e.g. the config path
  };

  // Checks that output_dir may be written (see ConvertConfig.output_dir) and creates the
  // staging directory.
  static StatusOr<std::unique_ptr<OutputWriter>> Create(const Options& options,
                                                        const SourceSchema& schema);
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  Status Add(int split, const Row& row);
  // Writes `rows` as <out>/items (one shard), the item corpus of matching models, and lists it
  // in data.pbtxt's `items`. Before Close.
  Status WriteCorpus(const std::vector<Row>& rows);
  // Closes every shard (after the last Add).
  Status Close();
  // Writes data.pbtxt and summary.txt and moves the output into place (after Close).
  Status Commit(const std::string& summary_text);

  // The DataConfig written as data.pbtxt (paths point at the final location).
  const DataConfig& data_config() const { return data_config_; }
  const std::string& output_dir() const { return final_dir_; }
  int64_t shards_written() const { return shards_written_; }

 private:
  struct Part {
    std::unique_ptr<ShardWriter> writer;
    Batch pending;
    int64_t in_shard = 0;  // samples in the open shard
    int next_index = 0;
  };

  OutputWriter(const Options& options, const SourceSchema& schema);
  Status Flush(int split);
  Status CloseShard(int split);
  Status OpenShard(int split);

  const Options options_;
  ShardHeader header_;
  DataConfig data_config_;
  std::string final_dir_;
  std::string staging_dir_;
  bool closed_ = false;
  bool committed_ = false;
  std::array<Part, kNumSplits> parts_;
  int64_t shards_written_ = 0;
};

// Appends `row` as one sample to `batch` (whose layout must match the row's schema).
void AppendRow(const Row& row, Batch* batch);

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_OUTPUT_H_
