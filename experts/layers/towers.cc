#include "experts/layers/towers.h"

#include <set>
#include <utility>

#include "core/parallel.h"
#include "core/random.h"
#include "experts/layers/heads.h"

namespace moerec {
namespace {

// Below this many input elements, forking threads per tower costs more than it saves.
constexpr int64_t kMinParallelElements = 1 << 15;

}  // namespace

Towers::Towers(const MlpConfig& hidden, HeadIndex index, int num_domains, int num_tasks,
               int64_t input_dim, int streams, const std::string& name, ParameterSet* params,
               uint64_t seed)
    : input_dim_(input_dim) {
  CHECK(streams == 1 || streams == num_tasks) << "towers read 1 or T streams, got " << streams;
  const int num_heads = NumHeads(index, num_domains, num_tasks);
  const int outputs = index == BY_DOMAIN ? num_tasks : 1;
  heads_.resize(num_heads);
  for (int h = 0; h < num_heads; ++h) {
    const std::string prefix = name + "." + std::to_string(h);
    heads_[h].hidden = Mlp(hidden, input_dim, 1, prefix + ".hidden", params, seed);
    heads_[h].out = Linear(params, prefix + ".out", heads_[h].hidden.output_dim(), outputs, seed);
  }
  auto stream_of = [&](int t) { return streams == 1 ? 0 : t; };
  for (int d = 0; d < (PerDomain(index) ? num_domains : 1); ++d) {
    const int domain = PerDomain(index) ? d : -1;
    if (index == BY_DOMAIN && streams == 1) {
      Job job;
      job.head = d;
      job.domain = domain;
      job.task_begin = 0;
      job.tasks = num_tasks;
      jobs_.push_back(std::move(job));
      continue;
    }
    for (int t = 0; t < num_tasks; ++t) {
      Job job;
      job.head = HeadFor(index, num_tasks, d, t);
      job.stream = stream_of(t);
      job.domain = domain;
      job.task_begin = t;
      job.tasks = 1;
      job.out_col = index == BY_DOMAIN ? t : 0;
      jobs_.push_back(std::move(job));
    }
  }
  std::set<std::pair<int, int>> written;
  std::set<int> heads;
  independent_backward_ = true;
  for (Job& job : jobs_) {
    job.first_writer = written.insert({job.stream, job.domain}).second;
    independent_backward_ &= job.first_writer && heads.insert(job.head).second;
  }
}

template <typename Fn>
void Towers::ForJobs(bool parallel, int64_t rows, Fn fn) {
  const int n = static_cast<int>(jobs_.size());
  if (parallel && n > 1 && rows * input_dim_ >= kMinParallelElements && ComputeThreads() > 1) {
    ParallelFor(n, 1, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) fn(static_cast<int>(j));
    });
  } else {
    for (int j = 0; j < n; ++j) fn(j);
  }
}

void Towers::Forward(ConstMatView z, const std::vector<int64_t>& domain_begin, bool training,
                     uint64_t seed, MatView logits) {
  CHECK_EQ(logits.rows, z.rows);
  // One host thread per device: launches and the cuBLAS handle are not shared across threads.
  ForJobs(z.gpu == nullptr, z.rows, [&](int j) {
    Job& job = jobs_[j];
    const RowRange r = DomainRows(domain_begin, job.domain);
    if (r.size() == 0) return;
    const ConstMatView in = z.Rows(r.begin, r.size()).Cols(job.stream * input_dim_, input_dim_);
    const Head& head = heads_[job.head];
    job.hidden = head.hidden.Forward(in, training, HashCombine(seed, j), &job.cache);
    MatView out = logits.Rows(r.begin, r.size()).Cols(job.task_begin, job.tasks);
    head.out.Forward(job.hidden, out, job.out_col);
  });
}

void Towers::Backward(ConstMatView z, const std::vector<int64_t>& domain_begin,
                      ConstMatView dlogits, MatView dz) {
  CHECK_EQ(dz.rows, z.rows);
  CHECK_EQ(dlogits.rows, z.rows);
  ForJobs(independent_backward_ && z.gpu == nullptr, z.rows, [&](int j) {
    Job& job = jobs_[j];
    const RowRange r = DomainRows(domain_begin, job.domain);
    if (r.size() == 0) return;
    const ConstMatView in = z.Rows(r.begin, r.size()).Cols(job.stream * input_dim_, input_dim_);
    const MatView din = dz.Rows(r.begin, r.size()).Cols(job.stream * input_dim_, input_dim_);
    const float beta = job.first_writer ? 0.0f : 1.0f;
    const ConstMatView dout = dlogits.Rows(r.begin, r.size()).Cols(job.task_begin, job.tasks);
    const Head& head = heads_[job.head];
    if (head.hidden.num_layers() == 0) {
      head.out.Backward(in, dout, din, beta, job.out_col);
      return;
    }
    job.dhidden.Resize({r.size(), head.hidden.output_dim()});
    head.out.Backward(job.hidden, dout, job.dhidden.view(), 0.0f, job.out_col);
    head.hidden.Backward(in, job.dhidden.view(), din, beta, &job.cache);
  });
}

}  // namespace moerec
