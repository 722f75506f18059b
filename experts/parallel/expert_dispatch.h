// ExpertDispatch: moves the rows routed to experts to the workers that hold them and the
// experts' outputs back (DESIGN.md §6). One instance per MoE layer; Plan() once per step, then
// the four moves:
//   Dispatch      home -> owner: x[row] for every assignment, grouped by the owner's local
//                 experts (the input of one grouped GEMM);
//   Combine       owner -> home: the experts' outputs, back in assignment order;
//   DispatchGrad  home -> owner: the gradient of each assignment's output (Dispatch's path);
//   CombineGrad   owner -> home: the gradient of each routed input row, added into dx.
// Dispatch and DispatchGrad share one exchange (ToOwners), Combine and CombineGrad its mirror
// (ToHomes); backward is forward with the directions swapped.
//
// Assignments (home side): every (sample row, expert) pair routed this step, sorted by expert:
// expert e's rows are rows[expert_begin[e] .. expert_begin[e + 1]) (any order within; the
// assignment index a is the position in `rows`). A row may go to several experts.
// Owner side: local expert j's rows are [local_begin[j], local_begin[j + 1]) of the local
// buffers, ordered by source worker, then by the source's assignment order, so the result
// does not depend on timing.
//
// Plan: the count exchange (an all-to-all of max_local counts per worker pair), then each move
// is one AllToAllV of rows x width floats. With a replicated placement (one dispatch rank) the
// moves are local copies and nothing touches the communicator.
// Bytes: bytes_to_others() counts the floats sent to other workers by the moves so far (the
// routing's minimum: rows that must leave the worker times the row bytes), count_bytes() the
// count exchange's.
// Devices: the views and tensors may be on a GPU (all on one device). With one dispatch rank
// (a replicated placement, or one worker) the moves are device gathers and a scatter-add
// (core/embedding_bag.h over one-row bags; the plan's indices go over once per Plan). Across
// workers with a `device_exchange` (GPU workers: the NCCL communicator over the same workers,
// whose all-to-all takes device buffers), each move packs its send buffer with a device gather,
// exchanges device buffers, and unpacks with a gather (or, for CombineGrad, the scatter-add);
// rows never leave the devices. Without one the exchange is the host all-to-all of `workers`,
// so device rows are staged through the host: each move copies its input to the host and its
// result back (synchronous). The count exchange of Plan always goes through `workers` (host
// counts).
// Thread-safety: none; collective when the placement spans workers (every worker calls Plan
// and the moves in the same order).
#ifndef MOEREC_EXPERTS_PARALLEL_EXPERT_DISPATCH_H_
#define MOEREC_EXPERTS_PARALLEL_EXPERT_DISPATCH_H_

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"
#include "core/tensor.h"
#include "experts/parallel/placement.h"

namespace moerec {

class ExpertDispatch {
 public:
  // `workers` (borrowed; its size must equal placement.num_ranks() unless replicated) may be
  // null with a replicated placement. `device_exchange` (borrowed, optional): the same workers,
  // in the same rank order, over a transport whose AllToAllV takes device buffers.
  ExpertDispatch(Communicator* workers, const ExpertPlacement& placement,
                 Communicator* device_exchange = nullptr);

  // expert_begin: (E + 1) from 0; rows: the assignments' sample rows.
  Status Plan(const std::vector<int64_t>& expert_begin, const std::vector<int32_t>& rows);

  // x (B, I) -> local_in (N_local, I), resized.
  Status Dispatch(ConstMatView x, Tensor* local_in);
  // local_out (N_local, O) -> out (N_assign, O), resized; row a = assignment a's output.
  Status Combine(ConstMatView local_out, Tensor* out);
  // dout (N_assign, O) -> dlocal_out (N_local, O), resized.
  Status DispatchGrad(ConstMatView dout, Tensor* dlocal_out);
  // dlocal_in (N_local, I): dx[rows[a]] += its row of assignment a.
  Status CombineGrad(ConstMatView dlocal_in, MatView dx);

  // Local expert j's rows of the local buffers: (num local experts + 1) entries.
  const std::vector<int64_t>& local_begin() const { return local_begin_; }
  int64_t num_local_rows() const { return local_begin_.back(); }
  int64_t num_assignments() const { return static_cast<int64_t>(rows_.size()); }
  // Assignments of the last Plan whose expert lives on another worker.
  int64_t rows_to_others() const { return num_assignments() - send_rows_[me_]; }
  const ExpertPlacement& placement() const { return placement_; }

  int64_t bytes_to_others() const { return bytes_to_others_; }
  int64_t count_bytes() const { return count_bytes_; }
  // Wall seconds in the moves towards the owners (Plan, Dispatch, DispatchGrad) and back
  // (Combine, CombineGrad), exchanges and packing included.
  double dispatch_seconds() const { return dispatch_seconds_; }
  double combine_seconds() const { return combine_seconds_; }
  void ClearCounters() {
    bytes_to_others_ = count_bytes_ = 0;
    dispatch_seconds_ = combine_seconds_ = 0.0;
  }

 private:
  // Home -> owners: row p of the send buffer is source(send_order_[p]); owner side packs the
  // received rows in local order into *out.
  template <typename RowFn>
  Status ToOwners(int64_t width, const RowFn& source, Tensor* out);
  // Owners -> home: `local` rows in local order; calls sink(assignment, row pointer).
  template <typename SinkFn>
  Status ToHomes(ConstMatView local, const SinkFn& sink);
  // One dispatch rank, device views: out (n, src.cols) = src rows gathered by `index` (one of
  // the DevicePlan arrays); CombineGrad's dx[rows] += dlocal_in through ScatterAdd.
  bool OnDevice(GpuResources* gpu) const { return gpu != nullptr && ranks_ == 1; }
  void DevicePlan(GpuResources* gpu);
  void Gather(ConstMatView src, int which, Tensor* out);
  // Device moves across ranks: the rows of `src` packed by exchange array `pack` go to their
  // owners and are unpacked into *out in local order; ToHomesOnDevice packs `local` and leaves
  // the returned rows, in send layout, in device_recv_.
  Status ToOwnersOnDevice(ConstMatView src, int pack, Tensor* out);
  Status ToHomesOnDevice(ConstMatView local);
  void PlaceExchangeBuffers(GpuResources* gpu);  // device_send_, device_recv_ on gpu
  // Several dispatch ranks, device views, a device_exchange: the moves on the devices.
  bool ExchangesOnDevice(GpuResources* gpu) const {
    return gpu != nullptr && ranks_ > 1 && device_exchange_ != nullptr;
  }
  // The exchange arrays of the last Plan on `gpu` (kPack*, kUnpack* below), uploaded once.
  void DeviceExchangePlan(GpuResources* gpu);
  // out (n, src.cols) = src rows gathered by exchange array `which` (n entries).
  void ExchangeGather(ConstMatView src, int which, int64_t n, Tensor* out);
  // send (rows in send layout) -> recv, over device_exchange_.
  Status DeviceExchange(const Tensor& send, const std::vector<int64_t>& send_rows,
                        const std::vector<int64_t>& recv_rows, Tensor* recv);
  Status Exchange(const std::vector<float>& send, const std::vector<int64_t>& send_rows,
                  const std::vector<int64_t>& recv_rows, int64_t width, std::vector<float>* recv);

  Communicator* const workers_;
  Communicator* const device_exchange_;
  const ExpertPlacement placement_;
  const int ranks_;
  const int me_;

  std::vector<int32_t> rows_;
  std::vector<int64_t> send_order_;  // send position -> assignment
  std::vector<int64_t> send_rows_;   // (W) rows to each worker
  std::vector<int64_t> recv_rows_;   // (W) rows from each worker
  std::vector<int64_t> recv_order_;  // local position -> position in the receive buffer
  std::vector<int64_t> local_begin_;

  std::vector<int64_t> counts_send_, counts_recv_;
  std::vector<float> send_, recv_;
  Tensor staging_ = Tensor({0}, nullptr);  // host copy of a move's device input or output
  // One rank on a device: the plan's index arrays (bit patterns in floats), uploaded after Plan:
  // [0, N] one-row bag offsets, then (N) each: the sample row of local row l, the assignment of
  // local row l, the local row of assignment a. Empty until the first device move.
  Tensor device_plan_;
  bool device_plan_ready_ = false;
  // Several ranks on devices: one-row bag offsets [0, N] (N the largest array), then the
  // exchange arrays, N floats each (bit patterns of int32): see DeviceExchangePlan.
  Tensor exchange_plan_;
  bool exchange_plan_ready_ = false;
  int64_t exchange_plan_stride_ = 0;
  Tensor device_send_ = Tensor({0}, nullptr);  // the moves' device buffers (send, receive)
  Tensor device_recv_ = Tensor({0}, nullptr);
  int64_t bytes_to_others_ = 0;
  int64_t count_bytes_ = 0;
  double dispatch_seconds_ = 0.0;
  double combine_seconds_ = 0.0;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_PARALLEL_EXPERT_DISPATCH_H_
