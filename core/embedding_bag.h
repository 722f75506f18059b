// Embedding-bag pooling: per sample, the sum or mean of a variable-length list of rows.
//
// Dimension legend: B samples, U rows (unique ids of a batch), D embedding width.
//   rows: (U, D)   offsets: (B + 1), offsets[0] = 0   index: (offsets[B]) values in [0, U)
//   out, dout: (B, D) views (usually a column block of the model input)
// Sample i pools rows index[offsets[i] .. offsets[i + 1]); an empty bag gives zeros; offsets
// are non-decreasing (the data layer validates them; here they are trusted).
// Devices: on device views offsets and index are device arrays. The device backward pass
// (core/gpu/embedding_bag.cu) copies them to the host to group the entries by row, so it waits
// for the device; it is deterministic and needs no atomics.
// Gradient rule: out is written; drows accumulates (+=), since several samples and several
// slots may share one row. Both passes give bit-identical results for any thread count
// (forward: samples are independent; backward: parallel over columns, samples in order).
#ifndef MOEREC_CORE_EMBEDDING_BAG_H_
#define MOEREC_CORE_EMBEDDING_BAG_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

enum class PoolingMode { kSum, kMean };

void EmbeddingBagForward(ConstMatView rows, const uint32_t* offsets, const int32_t* index,
                         PoolingMode mode, MatView out);
void EmbeddingBagBackward(ConstMatView dout, const uint32_t* offsets, const int32_t* index,
                          PoolingMode mode, MatView drows);

}  // namespace moerec

#endif  // MOEREC_CORE_EMBEDDING_BAG_H_
