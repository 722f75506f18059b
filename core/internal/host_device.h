// MOEREC_HOST_DEVICE marks a small pure function that CUDA kernel bodies call as well as the CPU
// kernels (core/gpu/launch.cuh), so that both sides compute it from one definition and
// agree bit for bit (dropout masks, hashes). It is `__host__ __device__` when nvcc compiles the
// file and nothing otherwise. Such functions use only arithmetic on their arguments: no host
// memory, no library calls that have no device version.
#ifndef MOEREC_CORE_INTERNAL_HOST_DEVICE_H_
#define MOEREC_CORE_INTERNAL_HOST_DEVICE_H_

#ifdef __CUDACC__
#define MOEREC_HOST_DEVICE __host__ __device__
#else
#define MOEREC_HOST_DEVICE
#endif

#endif  // MOEREC_CORE_INTERNAL_HOST_DEVICE_H_
