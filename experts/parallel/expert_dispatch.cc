#include "experts/parallel/expert_dispatch.h"

#include <chrono>
#include <cstring>
#include <string>

#include "core/embedding_bag.h"
#include "core/linear.h"
#include "glog/logging.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

// Adds the seconds from its construction to *total when it goes out of scope.
class ScopedSeconds {
 public:
  explicit ScopedSeconds(double* total) : total_(total), start_(Clock::now()) {}
  ~ScopedSeconds() { *total_ += std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  double* total_;
  Clock::time_point start_;
};

// A host view of v: v itself, or its rows copied into *host when v is on a device.
ConstMatView OnHost(ConstMatView v, Tensor* host) {
  if (v.gpu == nullptr || v.rows == 0) return ConstMatView(v.data, v.rows, v.cols, v.ld);
  *host = Tensor::FromView(v, nullptr);
  return host->view();
}

}  // namespace

ExpertDispatch::ExpertDispatch(Communicator* workers, const ExpertPlacement& placement,
                               Communicator* device_exchange)
    : workers_(workers),
      device_exchange_(device_exchange),
      placement_(placement),
      ranks_(placement.num_ranks()),
      me_(placement.replicated() ? 0 : workers->rank()) {
  if (!placement.replicated()) {
    CHECK(workers != nullptr);
    CHECK_EQ(workers->size(), ranks_) << "the placement spans a different number of workers";
  }
  if (device_exchange != nullptr && workers != nullptr) {
    CHECK_EQ(device_exchange->size(), workers->size());
    CHECK_EQ(device_exchange->rank(), workers->rank());
  }
  local_begin_.assign(placement_.experts_of(me_).size() + 1, 0);
}

Status ExpertDispatch::Plan(const std::vector<int64_t>& expert_begin,
                            const std::vector<int32_t>& rows) {
  ScopedSeconds timer(&dispatch_seconds_);
  const int experts = placement_.num_experts();
  CHECK_EQ(static_cast<int>(expert_begin.size()), experts + 1);
  CHECK_EQ(expert_begin.back(), static_cast<int64_t>(rows.size()));
  rows_ = rows;
  const int ml = placement_.max_local();
  send_rows_.assign(ranks_, 0);
  send_order_.clear();
  send_order_.reserve(rows.size());
  counts_send_.assign(static_cast<size_t>(ranks_) * ml, 0);
  for (int q = 0; q < ranks_; ++q) {
    const std::vector<int>& mine = placement_.experts_of(q);
    for (size_t j = 0; j < mine.size(); ++j) {
      const int e = mine[j];
      const int64_t n = expert_begin[e + 1] - expert_begin[e];
      counts_send_[q * ml + j] = n;
      send_rows_[q] += n;
      for (int64_t a = expert_begin[e]; a < expert_begin[e + 1]; ++a) send_order_.push_back(a);
    }
  }
  if (ranks_ > 1) {
    counts_recv_.resize(counts_send_.size());
    RETURN_IF_ERROR(workers_->AllToAll(counts_send_.data(), counts_recv_.data(), ml));
    count_bytes_ += static_cast<int64_t>(ranks_ - 1) * ml * sizeof(int64_t);
  } else {
    counts_recv_ = counts_send_;
  }
  // The receive buffer holds source r's rows for local experts 0, 1, ... in turn; the local
  // order is by local expert, then by source.
  const int local = static_cast<int>(placement_.experts_of(me_).size());
  recv_rows_.assign(ranks_, 0);
  std::vector<int64_t> block_start(static_cast<size_t>(ranks_) * ml, 0);
  int64_t at = 0;
  for (int r = 0; r < ranks_; ++r) {
    for (int j = 0; j < ml; ++j) {
      const int64_t n = counts_recv_[r * ml + j];
      if (n < 0 || (j >= local && n != 0)) {
        return Internal("expert dispatch: worker " + std::to_string(r) + " sends " +
                        std::to_string(n) + " rows for local expert " + std::to_string(j) +
                        " of worker " + std::to_string(me_) + ", which holds " +
                        std::to_string(local));
      }
      block_start[r * ml + j] = at;
      at += n;
      recv_rows_[r] += n;
    }
  }
  local_begin_.assign(local + 1, 0);
  recv_order_.resize(at);
  int64_t l = 0;
  for (int j = 0; j < local; ++j) {
    local_begin_[j] = l;
    for (int r = 0; r < ranks_; ++r) {
      const int64_t n = counts_recv_[r * ml + j];
      for (int64_t k = 0; k < n; ++k) recv_order_[l++] = block_start[r * ml + j] + k;
    }
  }
  local_begin_[local] = l;
  device_plan_ready_ = false;
  exchange_plan_ready_ = false;
  return Status::OK();
}

namespace {
// The element counts and displacements of an exchange of rows of `width` floats, `send_rows[r]`
// to and `recv_rows[r]` from each rank r, packed rank after rank.
struct RowExchange {
  RowExchange(const std::vector<int64_t>& send_rows, const std::vector<int64_t>& recv_rows,
              int64_t width) {
    for (size_t r = 0; r < send_rows.size(); ++r) {
      sc.push_back(send_rows[r] * width);
      rc.push_back(recv_rows[r] * width);
      this->recv_rows += recv_rows[r];
    }
    PackedDisplacements(sc, &sd);
    PackedDisplacements(rc, &rd);
  }
  std::vector<int64_t> sc, sd, rc, rd;
  int64_t recv_rows = 0;
};

// The DevicePlan arrays: which = 0 the sample row, 1 the assignment of a local row; 2 the local
// row of an assignment.
constexpr int kSampleOfLocal = 0, kAssignmentOfLocal = 1, kLocalOfAssignment = 2;
// The DeviceExchangePlan arrays. Home side, per send position p (send layout, N_assign): the
// sample row of its assignment (Dispatch's pack; CombineGrad's scatter of the returned rows),
// its assignment (DispatchGrad's pack). Owner side, per local row l: its position in the
// receive buffer (the unpack of the moves towards the owners); per receive position q: the
// local row held there (the pack of the moves back). Home side, per assignment a: its send
// position (Combine's unpack).
constexpr int kSampleOfSend = 0, kAssignmentOfSend = 1, kRecvOfLocal = 2, kLocalOfRecv = 3,
              kSendOfAssignment = 4, kExchangeArrays = 5;
}  // namespace

void ExpertDispatch::DeviceExchangePlan(GpuResources* gpu) {
  if (exchange_plan_ready_ && exchange_plan_.gpu() == gpu) return;
  const int64_t na = num_assignments(), nl = num_local_rows();
  const int64_t n = std::max<int64_t>(1, std::max(na, nl));
  Tensor host({(kExchangeArrays + 1) * n + 1}, nullptr);
  host.Fill(0.0f);
  uint32_t* offsets = reinterpret_cast<uint32_t*>(host.data());
  for (int64_t k = 0; k <= n; ++k) offsets[k] = static_cast<uint32_t>(k);
  auto array = [&](int which) {
    return reinterpret_cast<int32_t*>(host.data() + n + 1 + which * n);
  };
  for (int64_t p = 0; p < na; ++p) {
    const int64_t a = send_order_[p];
    array(kSampleOfSend)[p] = rows_[a];
    array(kAssignmentOfSend)[p] = static_cast<int32_t>(a);
    array(kSendOfAssignment)[a] = static_cast<int32_t>(p);
  }
  for (int64_t l = 0; l < nl; ++l) {
    array(kRecvOfLocal)[l] = static_cast<int32_t>(recv_order_[l]);
    array(kLocalOfRecv)[recv_order_[l]] = static_cast<int32_t>(l);
  }
  exchange_plan_ = Tensor({0}, gpu);
  exchange_plan_ = host;  // copy assignment: to the device, bit for bit
  exchange_plan_stride_ = n;
  exchange_plan_ready_ = true;
}

void ExpertDispatch::ExchangeGather(ConstMatView src, int which, int64_t n, Tensor* out) {
  out->Resize({n, src.cols});
  if (n == 0) return;
  DeviceExchangePlan(out->gpu());
  const float* plan = exchange_plan_.data();
  const int64_t stride = exchange_plan_stride_;
  EmbeddingBagForward(src, reinterpret_cast<const uint32_t*>(plan),
                      reinterpret_cast<const int32_t*>(plan + stride + 1 + which * stride),
                      PoolingMode::kSum, out->view());
}

Status ExpertDispatch::DeviceExchange(const Tensor& send, const std::vector<int64_t>& send_rows,
                                      const std::vector<int64_t>& recv_rows, Tensor* recv) {
  const RowExchange x(send_rows, recv_rows, send.dim(1));
  recv->Resize({x.recv_rows, send.dim(1)});
  return device_exchange_->AllToAllV(send.data(), x.sc, x.sd, recv->data(), x.rc, x.rd);
}

void ExpertDispatch::DevicePlan(GpuResources* gpu) {
  if (device_plan_ready_ && device_plan_.gpu() == gpu) return;
  // One rank: the receive buffer is the send buffer, so local row l holds assignment
  // send_order_[recv_order_[l]].
  const int64_t n = num_local_rows();
  CHECK_EQ(n, num_assignments());
  std::vector<uint32_t> offsets(n + 1);
  std::vector<int32_t> index(3 * n);
  for (int64_t l = 0; l <= n; ++l) offsets[l] = static_cast<uint32_t>(l);
  for (int64_t l = 0; l < n; ++l) {
    const int64_t a = send_order_[recv_order_[l]];
    index[kSampleOfLocal * n + l] = rows_[a];
    index[kAssignmentOfLocal * n + l] = static_cast<int32_t>(a);
    index[kLocalOfAssignment * n + a] = static_cast<int32_t>(l);
  }
  Tensor host({4 * n + 1}, nullptr);
  std::memcpy(host.data(), offsets.data(), offsets.size() * sizeof(uint32_t));
  std::memcpy(host.data() + n + 1, index.data(), index.size() * sizeof(int32_t));
  device_plan_ = Tensor({0}, gpu);
  device_plan_ = host;  // copy assignment: to the device, bit for bit
  device_plan_ready_ = true;
}

void ExpertDispatch::Gather(ConstMatView src, int which, Tensor* out) {
  const int64_t n = num_local_rows();
  out->Resize({n, src.cols});
  if (n == 0) return;
  DevicePlan(out->gpu());
  const float* plan = device_plan_.data();
  EmbeddingBagForward(src, reinterpret_cast<const uint32_t*>(plan),
                      reinterpret_cast<const int32_t*>(plan + n + 1 + which * n), PoolingMode::kSum,
                      out->view());
}

Status ExpertDispatch::Exchange(const std::vector<float>& send,
                                const std::vector<int64_t>& send_rows,
                                const std::vector<int64_t>& recv_rows, int64_t width,
                                std::vector<float>* recv) {
  const RowExchange x(send_rows, recv_rows, width);
  recv->resize(x.recv_rows * width);
  if (ranks_ == 1) {
    std::copy(send.begin(), send.end(), recv->begin());
    return Status::OK();
  }
  return workers_->AllToAllV(send.data(), x.sc, x.sd, recv->data(), x.rc, x.rd);
}

template <typename RowFn>
Status ExpertDispatch::ToOwners(int64_t width, const RowFn& source, Tensor* out) {
  ScopedSeconds timer(&dispatch_seconds_);
  const int64_t n = static_cast<int64_t>(send_order_.size());
  send_.resize(n * width);
  for (int64_t p = 0; p < n; ++p) {
    std::memcpy(send_.data() + p * width, source(send_order_[p]), width * sizeof(float));
  }
  RETURN_IF_ERROR(Exchange(send_, send_rows_, recv_rows_, width, &recv_));
  bytes_to_others_ += (n - send_rows_[me_]) * width * static_cast<int64_t>(sizeof(float));
  // A device result is packed on the host and copied over.
  Tensor* packed = out->on_gpu() ? &staging_ : out;
  packed->Resize({num_local_rows(), width});
  const MatView o = packed->view();
  for (int64_t l = 0; l < num_local_rows(); ++l) {
    std::memcpy(o.row(l), recv_.data() + recv_order_[l] * width, width * sizeof(float));
  }
  if (packed != out) *out = *packed;  // copy assignment: to out's device
  return Status::OK();
}

template <typename SinkFn>
Status ExpertDispatch::ToHomes(ConstMatView local, const SinkFn& sink) {
  ScopedSeconds timer(&combine_seconds_);
  CHECK_EQ(local.rows, num_local_rows());
  const int64_t width = local.cols;
  send_.resize(local.rows * width);
  for (int64_t l = 0; l < local.rows; ++l) {
    std::memcpy(send_.data() + recv_order_[l] * width, local.row(l), width * sizeof(float));
  }
  RETURN_IF_ERROR(Exchange(send_, recv_rows_, send_rows_, width, &recv_));
  bytes_to_others_ += (local.rows - recv_rows_[me_]) * width * static_cast<int64_t>(sizeof(float));
  for (size_t p = 0; p < send_order_.size(); ++p) {
    sink(send_order_[p], recv_.data() + static_cast<int64_t>(p) * width);
  }
  return Status::OK();
}

void ExpertDispatch::PlaceExchangeBuffers(GpuResources* gpu) {
  if (device_send_.gpu() != gpu) device_send_ = Tensor({0}, gpu);
  if (device_recv_.gpu() != gpu) device_recv_ = Tensor({0}, gpu);
}

Status ExpertDispatch::ToOwnersOnDevice(ConstMatView src, int pack, Tensor* out) {
  ScopedSeconds timer(&dispatch_seconds_);
  const int64_t width = src.cols;
  PlaceExchangeBuffers(out->gpu());
  ExchangeGather(src, pack, num_assignments(), &device_send_);
  RETURN_IF_ERROR(DeviceExchange(device_send_, send_rows_, recv_rows_, &device_recv_));
  bytes_to_others_ +=
      (num_assignments() - send_rows_[me_]) * width * static_cast<int64_t>(sizeof(float));
  ExchangeGather(device_recv_.view(), kRecvOfLocal, num_local_rows(), out);
  return Status::OK();
}

Status ExpertDispatch::ToHomesOnDevice(ConstMatView local) {
  ScopedSeconds timer(&combine_seconds_);
  CHECK_EQ(local.rows, num_local_rows());
  const int64_t width = local.cols;
  PlaceExchangeBuffers(local.gpu);
  ExchangeGather(local, kLocalOfRecv, num_local_rows(), &device_send_);
  RETURN_IF_ERROR(DeviceExchange(device_send_, recv_rows_, send_rows_, &device_recv_));
  bytes_to_others_ += (local.rows - recv_rows_[me_]) * width * static_cast<int64_t>(sizeof(float));
  return Status::OK();
}

Status ExpertDispatch::Dispatch(ConstMatView x, Tensor* local_in) {
  if (OnDevice(local_in->gpu())) {
    ScopedSeconds timer(&dispatch_seconds_);
    Gather(x, kSampleOfLocal, local_in);
    return Status::OK();
  }
  if (ExchangesOnDevice(local_in->gpu())) return ToOwnersOnDevice(x, kSampleOfSend, local_in);
  Tensor host;
  const ConstMatView h = OnHost(x, &host);
  return ToOwners(
      x.cols, [&](int64_t a) { return h.row(rows_[a]); }, local_in);
}

Status ExpertDispatch::Combine(ConstMatView local_out, Tensor* out) {
  if (OnDevice(out->gpu())) {
    ScopedSeconds timer(&combine_seconds_);
    CHECK_EQ(local_out.rows, num_local_rows());
    Gather(local_out, kLocalOfAssignment, out);
    return Status::OK();
  }
  if (ExchangesOnDevice(out->gpu())) {
    RETURN_IF_ERROR(ToHomesOnDevice(local_out));
    ScopedSeconds timer(&combine_seconds_);
    ExchangeGather(device_recv_.view(), kSendOfAssignment, num_assignments(), out);
    return Status::OK();
  }
  Tensor host;
  const ConstMatView local = OnHost(local_out, &host);
  Tensor* unpacked = out->on_gpu() ? &staging_ : out;
  unpacked->Resize({num_assignments(), local_out.cols});
  const MatView o = unpacked->view();
  const int64_t width = local_out.cols;
  RETURN_IF_ERROR(ToHomes(local, [&](int64_t a, const float* row) {
    std::memcpy(o.row(a), row, width * sizeof(float));
  }));
  if (unpacked != out) *out = *unpacked;  // copy assignment: to out's device
  return Status::OK();
}

Status ExpertDispatch::DispatchGrad(ConstMatView dout, Tensor* dlocal_out) {
  CHECK_EQ(dout.rows, num_assignments());
  if (OnDevice(dlocal_out->gpu())) {
    ScopedSeconds timer(&dispatch_seconds_);
    Gather(dout, kAssignmentOfLocal, dlocal_out);
    return Status::OK();
  }
  if (ExchangesOnDevice(dlocal_out->gpu())) {
    return ToOwnersOnDevice(dout, kAssignmentOfSend, dlocal_out);
  }
  Tensor host;
  const ConstMatView h = OnHost(dout, &host);
  return ToOwners(
      dout.cols, [&](int64_t a) { return h.row(a); }, dlocal_out);
}

Status ExpertDispatch::CombineGrad(ConstMatView dlocal_in, MatView dx) {
  const int64_t width = dlocal_in.cols;
  CHECK_EQ(dx.cols, width);
  if (ExchangesOnDevice(dx.gpu)) {
    RETURN_IF_ERROR(ToHomesOnDevice(dlocal_in));
    ScopedSeconds timer(&combine_seconds_);
    const int64_t n = num_assignments();
    if (n == 0) return Status::OK();
    DeviceExchangePlan(dx.gpu);
    const float* plan = exchange_plan_.data();
    const int64_t stride = exchange_plan_stride_;
    // dx[sample of p] += returned row p: the embedding-bag backward of Dispatch's pack.
    EmbeddingBagBackward(
        device_recv_.view(), reinterpret_cast<const uint32_t*>(plan),
        reinterpret_cast<const int32_t*>(plan + stride + 1 + kSampleOfSend * stride),
        PoolingMode::kSum, dx);
    return Status::OK();
  }
  if (OnDevice(dx.gpu)) {
    ScopedSeconds timer(&combine_seconds_);
    const int64_t n = num_local_rows();
    CHECK_EQ(dlocal_in.rows, n);
    if (n == 0) return Status::OK();
    DevicePlan(dx.gpu);
    const float* plan = device_plan_.data();
    // dx[sample of l] += dlocal_in[l]: the embedding-bag backward of the dispatch's gather.
    EmbeddingBagBackward(dlocal_in, reinterpret_cast<const uint32_t*>(plan),
                         reinterpret_cast<const int32_t*>(plan + n + 1 + kSampleOfLocal * n),
                         PoolingMode::kSum, dx);
    return Status::OK();
  }
  Tensor host_in;
  const ConstMatView local = OnHost(dlocal_in, &host_in);
  // A device dx is added to on the host and copied back.
  const bool device = dx.gpu != nullptr && dx.rows > 0;
  if (device) staging_ = Tensor::FromView(dx, nullptr);
  const MatView d = device ? staging_.view() : dx;
  RETURN_IF_ERROR(ToHomes(local, [&](int64_t a, const float* row) {
    float* r = d.row(rows_[a]);
    for (int64_t j = 0; j < width; ++j) r[j] += row[j];
  }));
  if (device) {
    Tensor back({dx.rows, dx.cols}, dx.gpu);
    back = staging_;  // copy assignment: to dx's device
    CopyMat(back.view(), dx);
  }
  return Status::OK();
}

}  // namespace moerec
