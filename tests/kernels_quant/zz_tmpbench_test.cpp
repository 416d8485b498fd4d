#include <gtest/gtest.h>
#include <chrono>
#include <ctime>
#include <ctime>
#include "quant_test_util.h"
#include "runtime/executor.h"
namespace quench { namespace {
using testing::attr_ints; using testing::attr_int;
double time_run(std::shared_ptr<Model> m, Executor::Feeds feeds, int iters) {
  ExecutorOptions o; o.num_threads = 1; auto exec = Executor::create(m, o).value();
  (void)exec->run(feeds);
  auto cpu = [] { timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; };
  double t0 = cpu();
  for (int i = 0; i < iters; ++i) { auto r = exec->run(feeds); EXPECT_TRUE(r.ok()) << r.status().message(); }
  return (cpu() - t0) / iters;
}
TEST(TmpBench, Conv) {
  for (int64_t c : {64, 256}) {
    int64_t hw = c == 64 ? 56 : 14;
    Tensor x = qtest::random_int_tensor(DType::kUInt8, {1, c, hw, hw}, 1);
    Tensor w = qtest::random_int_tensor(DType::kInt8, {c, c, 3, 3}, 2);
    std::vector<Attribute> a = {attr_ints("pads", {1,1,1,1}), attr_ints("kernel_shape", {3,3})};
    auto mq = testing::single_op_model({"QLinearConv", a, 10}, {x, Tensor::scalar(0.1f), qtest::int_tensor(DType::kUInt8, {}, {3}), w, Tensor::scalar(0.01f), qtest::int_tensor(DType::kInt8, {}, {0}), Tensor::scalar(0.5f), qtest::int_tensor(DType::kUInt8, {}, {5})}, {false,true,true,true,true,true,true,true});
    double tq = time_run(mq, {{"in0", x}}, 5);
    Tensor xf = testing::random_tensor({1, c, hw, hw}); Tensor wf = testing::random_tensor({c, c, 3, 3});
    auto mf = testing::single_op_model({"Conv", a, 13}, {xf, wf}, {false, true});
    double tf = time_run(mf, {{"in0", xf}}, 5);
    double gops = 2.0 * c * c * 9 * hw * hw / 1e9;
    printf("conv C=%ld HW=%ld: QLinearConv %.2f ms (%.1f GOP/s), float Conv %.2f ms\n", c, hw, tq, gops / tq * 1e3, tf);
  }
}
TEST(TmpBench, Lstm) {
  int64_t S = 50, N = 16, I = 256, H = 256;
  Tensor x = testing::random_tensor({S, N, I}); Tensor w = testing::random_tensor({1, 4*H, I}); Tensor r = testing::random_tensor({1, 4*H, H});
  auto m = testing::single_op_model({"LSTM", {attr_int("hidden_size", H)}, 14, 1}, {x, w, r}, {false, true, true});
  double t = time_run(m, {{"in0", x}}, 5);
  double gf = 2.0 * S * N * 4 * H * (I + H) / 1e9;
  printf("LSTM S=%ld N=%ld I=%ld H=%ld: %.2f ms (%.1f GFLOP/s)\n", S, N, I, H, t, gf / t * 1e3);
}
}}
#include "runtime/kernels/quant_gemm.h"
namespace quench { namespace {
TEST(TmpBench, Gemm) {
  int64_t m = 64, n = 3136, k = 576;
  std::vector<int16_t> a(m*k, 3), b(k*n, -2); std::vector<int32_t> c(m*n);
  quant::gemm_s16(m, n, k, a.data(), k, b.data(), n, c.data(), n);
  auto cpu = [] { timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6; };
  double t0 = cpu();
  int it = 20;
  for (int i = 0; i < it; ++i) quant::gemm_s16(m, n, k, a.data(), k, b.data(), n, c.data(), n);
  double ms = (cpu() - t0) / it;
  std::vector<int32_t> c2(m*n);
  t0 = cpu();
  for (int i = 0; i < 2; ++i) quant::gemm_s16_reference(m, n, k, a.data(), k, b.data(), n, c2.data(), n);
  printf("reference: %.2f ms\n", (cpu() - t0) / 2);
  printf("gemm_s16 %ldx%ldx%ld: %.2f ms %.1f GOP/s (c=%d)\n", m, n, k, ms, 2.0*m*n*k/ms/1e6, c[5]);
}
}}
