// quench core: the SIMD extensions this CPU runs. The build targets baseline x86-64 (CI and users
// run other CPUs); kernels whose loops gain from wider vectors keep AVX2 / AVX-512 copies
// (__attribute__((target(...)))) and pick one at run time with these. Other architectures: false.
//
//   static const auto fn = cpu_has_avx512f() ? loop_avx512 : cpu_has_avx2() ? loop_avx2 : loop;
#pragma once

namespace quench {

bool cpu_has_avx2();     // AVX2 (with POPCNT, which every AVX2 CPU has)
bool cpu_has_avx512f();  // AVX-512 Foundation

}  // namespace quench
