// quench core: the buffer cache behind Storage.
//
// Every run of a model allocates the same activation buffers again. Fresh large blocks come from
// mmap, and the kernel zeroes every page on first touch: measured on resnet_fmnist at batch 64, that
// was about 40% of the run time. Freed buffers of 64 KiB and more therefore go to this cache and are
// handed out again for a request of the same size (or up to 1/8 larger); smaller ones go straight
// back to malloc, which recycles them well. The cache holds at most limit() bytes, evicting the
// largest buffers first. Tensor accounting (memory_stats) counts live tensors only, not the cache.
//
//   set_buffer_cache_limit(256 << 20);  // 256 MiB
//   trim_buffer_cache();                // give everything back to the system
#pragma once

#include <cstddef>
#include <cstdint>

namespace quench {

// 64-byte aligned block of at least nbytes; throws std::bad_alloc when the system has no memory.
void* buffer_allocate(size_t nbytes, size_t* capacity);
// Returns a block from buffer_allocate (capacity as it reported).
void buffer_release(void* p, size_t capacity);

void set_buffer_cache_limit(size_t bytes);
size_t buffer_cache_limit();
size_t buffer_cache_bytes();  // bytes held by the cache now
void trim_buffer_cache();

}  // namespace quench
