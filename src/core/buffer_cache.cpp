#include "core/buffer_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

namespace quench {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMinCached = 64 * 1024;
constexpr size_t kPage = 4096;

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free;  // capacity -> block
  size_t bytes = 0;
  size_t limit = size_t{1} << 30;  // 1 GiB

  void evict_to(size_t target) {
    while (bytes > target && !free.empty()) {
      auto it = std::prev(free.end());  // largest first
      bytes -= it->first;
      std::free(it->second);
      free.erase(it);
    }
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may die during static destruction
  return *c;
}

}  // namespace

void* buffer_allocate(size_t nbytes, size_t* capacity) {
  if (nbytes >= kMinCached) {
    size_t want = (nbytes + kPage - 1) / kPage * kPage;
    Cache& c = cache();
    {
      std::lock_guard<std::mutex> lock(c.mu);
      auto it = c.free.lower_bound(want);
      if (it != c.free.end() && it->first <= want + want / 8) {
        void* p = it->second;
        *capacity = it->first;
        c.bytes -= it->first;
        c.free.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, want);
    if (!p) {
      trim_buffer_cache();  // the cache may be what is in the way
      p = std::aligned_alloc(kAlignment, want);
      if (!p) throw std::bad_alloc();
    }
    *capacity = want;
    return p;
  }
  size_t rounded = nbytes == 0 ? kAlignment : (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (!p) throw std::bad_alloc();
  *capacity = rounded;
  return p;
}

void buffer_release(void* p, size_t capacity) {
  if (!p) return;
  if (capacity >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (capacity <= c.limit) {
      c.free.emplace(capacity, p);
      c.bytes += capacity;
      c.evict_to(c.limit);
      return;
    }
  }
  std::free(p);
}

void set_buffer_cache_limit(size_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.limit = bytes;
  c.evict_to(bytes);
}

size_t buffer_cache_limit() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.limit;
}

size_t buffer_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void trim_buffer_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.evict_to(0);
}

}  // namespace quench
