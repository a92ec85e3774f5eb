#pragma once
// MX_HOST_DEVICE marks a function that both backends compile: plain inline C++ for the CPU, and
// __host__ __device__ when nvcc compiles it for the CUDA backend. Such functions use only
// arithmetic and the C math functions CUDA also provides on the device (floorf, fminf, ...).
#if defined(__CUDACC__)
#define MX_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MX_HOST_DEVICE inline
#endif
