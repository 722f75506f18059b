// RunConvert and FormatConvertSummary (declared in convert.h).
#include "data/convert/convert.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "data/convert/internal/aliccp_source.h"
#include "data/convert/internal/bad_rows.h"
#include "data/convert/internal/csv_source.h"
#include "data/convert/internal/movielens_source.h"
#include "data/convert/internal/output.h"
#include "data/convert/internal/split.h"

namespace moerec {
namespace {

using convert::BadRowBudget;
using convert::kNumSplits;
using convert::kSplitNames;
using convert::Row;
using convert::RowSource;

std::string Rate(int64_t positives, int64_t observed) {
  if (observed == 0) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4f", static_cast<double>(positives) / observed);
  return buffer;
}

std::string Pad(const std::string& s, size_t width, bool right = false) {
  if (s.size() >= width) return s + " ";
  const std::string fill(width - s.size(), ' ');
  return (right ? fill + s : s + fill) + " ";
}

}  // namespace

int64_t ConvertSummary::split_samples(int split) const {
  int64_t n = 0;
  for (const int64_t c : samples[split]) n += c;
  return n;
}

int64_t ConvertSummary::total_samples() const {
  int64_t n = 0;
  for (int split = 0; split < kNumSplits; ++split) n += split_samples(split);
  return n;
}

StatusOr<ConvertSummary> RunConvert(const ConvertConfig& config, const std::string& origin,
                                    const ConvertProgress& progress) {
  RETURN_IF_ERROR(ValidateConvertConfig(config));
  const auto start = std::chrono::steady_clock::now();
  BadRowBudget bad(config.bad_row_budget(), config.bad_rows_logged());
  std::unique_ptr<RowSource> source;
  std::vector<Row> corpus;  // MovieLens write_items: the movies, for <out>/items
  if (config.has_csv()) {
    ASSIGN_OR_RETURN(source, convert::CsvSource::Open(config.csv(), &bad));
  } else if (config.has_aliccp()) {
    ASSIGN_OR_RETURN(source, convert::AliCcpSource::Open(config.aliccp()));
  } else {
    ASSIGN_OR_RETURN(auto movielens, convert::MovieLensSource::Open(config.movielens(), &bad));
    if (config.movielens().write_items()) corpus = movielens->CorpusRows();
    source = std::move(movielens);
  }
  const convert::SourceSchema& schema = source->schema();
  const int num_domains = static_cast<int>(schema.domain_names.size());
  const int num_tasks = static_cast<int>(schema.task_names.size());

  convert::OutputWriter::Options options;
  options.output_dir = config.output_dir();
  options.overwrite = config.overwrite();
  options.samples_per_shard = config.samples_per_shard();
  options.block_samples = config.block_samples();
  if (config.split().method() == SplitConfig::BY_FILE) {
    // The input's own files decide, and validation may also take a share of the train files.
    const std::array<bool, 3>& files = schema.file_splits;
    options.enabled = {files[0], files[1] || (files[0] && config.split().validation() > 0),
                       files[2]};
  } else {
    options.enabled = {config.split().train() > 0, config.split().validation() > 0,
                       config.split().test() > 0};
  }
  options.origin = origin;
  // Created before reading, so that an unusable output_dir is reported at once.
  ASSIGN_OR_RETURN(std::unique_ptr<convert::OutputWriter> output,
                   convert::OutputWriter::Create(options, schema));
  if (!corpus.empty()) RETURN_IF_ERROR(output->WriteCorpus(corpus));

  convert::Splitter splitter(config.split(), num_domains);
  Row row;
  BadRowBudget quiet = BadRowBudget::Quiet();
  BadRowBudget* writing_budget = &bad;
  int64_t total = 0;  // rows the writing pass will see, when a counting pass ran
  if (splitter.needs_counting_pass()) {
    RETURN_IF_ERROR(source->Rewind(&bad));
    while (true) {
      ASSIGN_OR_RETURN(const bool more, source->Next(&row));
      if (!more) break;
      splitter.Observe(row);
      ++total;
    }
    splitter.Plan();
    writing_budget = &quiet;  // the counting pass judged (and reported) the bad rows
  }

  ConvertSummary summary;
  summary.domain_names = schema.domain_names;
  summary.task_names = schema.task_names;
  for (int split = 0; split < kNumSplits; ++split) {
    summary.samples[split].assign(num_domains, 0);
    summary.observed[split].assign(size_t{1} * num_domains * num_tasks, 0);
    summary.positives[split].assign(size_t{1} * num_domains * num_tasks, 0);
  }
  RETURN_IF_ERROR(source->Rewind(writing_budget));
  int64_t written = 0;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, source->Next(&row));
    if (!more) break;
    ASSIGN_OR_RETURN(const int split, splitter.Assign(row));
    RETURN_IF_ERROR(output->Add(split, row));
    ++written;
    if (progress && written % 4096 == 0) progress(written, total, source->share_read());
    ++summary.samples[split][row.domain];
    for (int t = 0; t < num_tasks; ++t) {
      summary.observed[split][row.domain * num_tasks + t] += row.mask[t];
      summary.positives[split][row.domain * num_tasks + t] += row.mask[t] && row.labels[t] > 0;
    }
  }
  RETURN_IF_ERROR(splitter.Finish());
  RETURN_IF_ERROR(output->Close());
  if (progress) progress(written, written, 1.0);  // the end: the total is known now

  summary.rows_read = source->rows_read();
  summary.rows_dropped = source->rows_dropped();
  summary.bad_rows = bad.skipped();
  summary.bad_row_examples = bad.examples();
  summary.shards = output->shards_written();
  summary.output_dir = output->output_dir();
  summary.data_config_path = output->output_dir() + "/data.pbtxt";
  summary.data_config = output->data_config();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RETURN_IF_ERROR(output->Commit(FormatConvertSummary(summary)));
  return summary;
}

std::string FormatConvertSummary(const ConvertSummary& s) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "moerec convert: %lld rows read, %lld bad rows skipped, %lld dropped; %lld "
                "samples in %lld shards (%.1f s)\n",
                static_cast<long long>(s.rows_read), static_cast<long long>(s.bad_rows),
                static_cast<long long>(s.rows_dropped), static_cast<long long>(s.total_samples()),
                static_cast<long long>(s.shards), s.seconds);
  std::string out = line;
  const size_t num_tasks = s.task_names.size();
  size_t domain_width = 8;
  for (const std::string& d : s.domain_names) domain_width = std::max(domain_width, d.size());
  out += Pad("split", 10) + Pad("domain", domain_width) + Pad("samples", 10, true);
  for (const std::string& t : s.task_names)
    out += Pad(t + "+", std::max<size_t>(8, t.size() + 1), true);
  out += "\n";
  for (int split = 0; split < kNumSplits; ++split) {
    if (s.samples[split].empty()) continue;
    const size_t rows = s.domain_names.size();
    std::vector<int64_t> all_observed(num_tasks, 0), all_positives(num_tasks, 0);
    for (size_t d = 0; d <= rows; ++d) {
      const bool total = d == rows;
      if (total && rows == 1) break;
      const int64_t n = total ? s.split_samples(split) : s.samples[split][d];
      out += Pad(kSplitNames[split], 10) + Pad(total ? "(all)" : s.domain_names[d], domain_width) +
             Pad(std::to_string(n), 10, true);
      for (size_t t = 0; t < num_tasks; ++t) {
        int64_t observed = 0, positives = 0;
        if (total) {
          observed = all_observed[t], positives = all_positives[t];
        } else {
          observed = s.observed[split][d * num_tasks + t];
          positives = s.positives[split][d * num_tasks + t];
          all_observed[t] += observed;
          all_positives[t] += positives;
        }
        out +=
            Pad(Rate(positives, observed), std::max<size_t>(8, s.task_names[t].size() + 1), true);
      }
      out += "\n";
    }
  }
  out += "(task+: share of positive labels among the observed ones)\n";
  if (!s.bad_row_examples.empty()) {
    out += "first bad rows:\n";
    for (const std::string& e : s.bad_row_examples) out += "  " + e + "\n";
  }
  if (!s.data_config_path.empty()) out += "data config: " + s.data_config_path + "\n";
  return out;
}

}  // namespace moerec
