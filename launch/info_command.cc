// `moerec info`: what this binary was built with and what it finds on this machine, for the
// first look at a cluster node (which MPI, which GPUs, how many compute threads by default).
#include <cblas.h>
#include <faiss/Index.h>
#include <google/protobuf/stubs/common.h>
#include <mpi.h>
#include <rocksdb/version.h>

#include <cstdio>
#include <thread>

#include "core/gpu.h"
#include "launch/commands.h"
#include "worker/trainer.h"

extern "C" char* openblas_get_config();

namespace moerec {

int InfoCommand() {
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  std::string mpi = "unknown";
  if (MPI_Get_library_version(mpi_version, &length) == MPI_SUCCESS) mpi.assign(mpi_version, length);
  if (const size_t end = mpi.find_first_of(",\n"); end != std::string::npos) mpi.resize(end);
  std::printf("moerec_cuda=%s\n",
#ifdef MOEREC_HAVE_CUDA
              "on"
#else
              "off"
#endif
  );
  const GpuInventory gpus = ListGpus();
  if (gpus.runtime_version > 0) {
    std::printf("cuda_runtime=%d.%d\n", gpus.runtime_version / 1000,
                gpus.runtime_version % 1000 / 10);
  }
  if (gpus.driver_version > 0) {
    std::printf("cuda_driver=%d.%d\n", gpus.driver_version / 1000, gpus.driver_version % 1000 / 10);
  }
  std::printf("gpus=%s\n", DescribeGpus(gpus).c_str());
  std::printf("mpi=%s\n", mpi.c_str());
  std::printf("rocksdb=%d.%d.%d\n", ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH);
  std::printf("protobuf=%s\n",
              google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION).c_str());
  std::printf("faiss=%d.%d.%d\n", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR, FAISS_VERSION_PATCH);
  std::printf("openblas=%s\n", openblas_get_config());
  std::printf("hardware_threads=%u\n", std::thread::hardware_concurrency());
  std::printf("compute_threads_per_rank=%d\n", ResolveComputeThreads(/*configured=*/0));
  return 0;
}

}  // namespace moerec
