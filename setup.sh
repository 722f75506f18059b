#!/usr/bin/env bash
# Installs the Debian packages moerec needs when they are missing, then builds into build/.
#   ./setup.sh            packages for building, running and testing; Release build
#   ./setup.sh --bench    also PyTorch (python3-torch), the reference of the benchmarks
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default nproc),
# MOEREC_CUDA=ON|OFF (default: ON when nvcc is found).
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin            # MPI ranks
  librocksdb-dev                        # parameter-server storage
  libprotobuf-dev protobuf-compiler     # configs and wire headers
  libgoogle-glog-dev libgflags-dev      # logging, command-line flags
  libgtest-dev libgmock-dev             # tests
  libopenblas-openmp-dev                # CPU GEMM
  libzstd-dev zlib1g-dev                # shard compression, checksums
  libfaiss-dev                          # the item index of retrieval (serving/)
  munge slurmctld slurmd slurm-client libpmix-dev  # the local Slurm cluster of the tests
  clang-14 libclang-rt-14-dev libomp-14-dev      # sanitizer and fuzz builds (tests/ci_extra.sh)
  python3
  chromium                              # the report's test renders the page headless
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

build_dir=${BUILD_DIR:-build}
cuda_flag=()
[[ -n "${MOEREC_CUDA:-}" ]] && cuda_flag=(-DMOEREC_CUDA="${MOEREC_CUDA}")
# nvcc lives outside PATH on some machines.
if [[ -z "${MOEREC_CUDA:-}" ]] && ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${cuda_flag[@]}" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-$(nproc)}"
echo "setup: built $build_dir/launch/moerec"
