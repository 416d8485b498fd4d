// quench core: intra-op parallelism.
//
// quench uses OpenMP, the threading runtime of Debian's oneDNN build, so that quench's own loops and
// oneDNN's kernels share one pool and never oversubscribe the cores. Work is split statically: for a
// given thread count the partition, and so every floating-point reduction order, is the same on
// every run.
//
//   set_num_threads(2);
//   parallel_for(rows, [&](int64_t begin, int64_t end) { for (auto r = begin; r < end; ++r) ...; });
#pragma once

#include <cstdint>

namespace quench {

// Threads used by parallel_for and oneDNN from now on (n <= 0: all cores).
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) on disjoint contiguous chunks covering [0, n). Runs inline when n is small
// (below `grain` items per thread) or when already inside a parallel region.
template <class F>
void parallel_for(int64_t n, F&& fn, int64_t grain = 1);

}  // namespace quench

#include <omp.h>

namespace quench {
template <class F>
void parallel_for(int64_t n, F&& fn, int64_t grain) {
  if (n <= 0) return;
  int threads = omp_in_parallel() ? 1 : num_threads();
  if (grain < 1) grain = 1;
  int64_t max_chunks = (n + grain - 1) / grain;
  if (max_chunks < threads) threads = static_cast<int>(max_chunks);
  if (threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num();
    int nt = omp_get_num_threads();
    int64_t chunk = n / nt, rem = n % nt;
    int64_t begin = t * chunk + (t < rem ? t : rem);
    int64_t end = begin + chunk + (t < rem ? 1 : 0);
    if (begin < end) fn(begin, end);
  }
}
}  // namespace quench
