#include "core/cpu.h"

namespace quench {

#if defined(__x86_64__) && defined(__GNUC__)
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}
bool cpu_has_avx512f() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512f() { return false; }
#endif

}  // namespace quench
