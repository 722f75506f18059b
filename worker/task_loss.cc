#include "worker/task_loss.h"

#include "core/loss.h"

namespace moerec {

void CountObservedLabels(const Batch& batch, std::vector<double>* counts) {
  const int tasks = batch.num_tasks;
  counts->assign(tasks, 0.0);
  for (int64_t i = 0; i < batch.size; ++i) {
    const uint8_t* m = batch.label_mask.data() + i * tasks;
    for (int t = 0; t < tasks; ++t) (*counts)[t] += m[t];
  }
}

double TaskMeanBce(const Batch& batch, const Tensor& logits, const std::vector<double>& counts,
                   std::vector<float>* weights, Tensor* dlogits, Tensor* probs) {
  const int tasks = batch.num_tasks;
  const int64_t n = batch.size * tasks;
  CHECK_EQ(logits.size(), n);
  CHECK_EQ(static_cast<int>(counts.size()), tasks);
  weights->resize(n);
  for (int64_t i = 0; i < batch.size; ++i) {
    for (int t = 0; t < tasks; ++t) {
      (*weights)[i * tasks + t] = counts[t] > 0 ? static_cast<float>(1.0 / counts[t]) : 0.0f;
    }
  }
  dlogits->ResizeLike(logits);
  probs->ResizeLike(logits);
  return MaskedSigmoidBce(logits.data(), batch.labels.data(), batch.label_mask.data(),
                          weights->data(), n, probs->data(), dlogits->data());
}

}  // namespace moerec
