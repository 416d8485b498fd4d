// The registry holds a float32 kernel for every op the foundation issue names, and the shape/index
// ops in int64 (and bool where they apply), over the opsets quench imports (7..21).
#include <gtest/gtest.h>

#include "runtime/registry.h"

namespace quench {
namespace {

bool has_kernel(const char* op, int64_t opset, DType t) {
  return find_kernel("", op, opset, t) != nullptr;
}

TEST(Registry, HasFloatKernelForEveryRequiredOp) {
  const char* ops[] = {
      "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "PRelu",
      "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Softmax", "LogSoftmax",
      "LayerNormalization", "InstanceNormalization", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp",
      "Log", "Abs", "Neg", "Reciprocal", "Min", "Max", "Sum", "Mean", "Cast", "MaxPool",
      "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose",
      "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather", "Shape", "Size", "Expand", "Tile",
      "Pad", "Resize", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ArgMax",
      "Identity", "Dropout", "DynamicQuantizeLinear", "LSTM", "GRU"};
  for (const char* op : ops) {
    const std::string name = op;
    int64_t first = name == "LayerNormalization" ? 17 : name == "HardSwish" ? 14 : 13;
    for (int64_t opset : {first, int64_t{17}, int64_t{21}}) {
      if (opset < first) continue;
      EXPECT_TRUE(has_kernel(op, opset, DType::kFloat32)) << op << " opset " << opset;
    }
  }
  EXPECT_TRUE(has_kernel("Gelu", 20, DType::kFloat32));
  EXPECT_TRUE(has_kernel("Conv", 7, DType::kFloat32));
  EXPECT_TRUE(has_kernel("Where", 16, DType::kBool));
}

TEST(Registry, HasShapeAndIndexOpsInInt64AndBool) {
  for (const char* op : {"Shape", "Size", "Reshape", "Concat", "Gather", "Slice", "Unsqueeze",
                         "Squeeze", "Expand", "Tile", "Transpose", "Add", "Sub", "Mul", "Div",
                         "Equal", "Less", "Greater", "Min", "Max", "ReduceSum", "Cast", "Range",
                         "ConstantOfShape", "Where"}) {
    EXPECT_TRUE(find_kernel("", op, 17, DType::kInt64) || find_kernel("", op, 17, DType::kBool) ||
                (std::string(op) == "Where" && has_kernel(op, 17, DType::kBool)))
        << op;
  }
  for (const char* op : {"Not", "And", "Or", "Equal", "Where", "Cast", "Reshape", "Concat"}) {
    EXPECT_TRUE(has_kernel(op, 17, DType::kBool)) << op;
  }
  EXPECT_TRUE(has_kernel("Range", 17, DType::kInt64));
}

TEST(Registry, HasQuantizedOps) {
  EXPECT_TRUE(has_kernel("QuantizeLinear", 13, DType::kFloat32));
  EXPECT_TRUE(has_kernel("QuantizeLinear", 21, DType::kFloat32));
  for (DType t : {DType::kInt8, DType::kUInt8}) {
    EXPECT_TRUE(has_kernel("DequantizeLinear", 13, t));
    EXPECT_TRUE(has_kernel("ConvInteger", 10, t));
    EXPECT_TRUE(has_kernel("MatMulInteger", 10, t));
    EXPECT_TRUE(has_kernel("QLinearConv", 10, t));
    EXPECT_TRUE(has_kernel("QLinearMatMul", 10, t));
  }
  EXPECT_TRUE(has_kernel("DequantizeLinear", 13, DType::kInt32));
}

TEST(Registry, UnknownOpsAndOpsetsFindNothing) {
  EXPECT_EQ(find_kernel("", "FooBar", 17, DType::kFloat32), nullptr);
  EXPECT_EQ(find_kernel("com.example", "Conv", 17, DType::kFloat32), nullptr);
  EXPECT_TRUE(find_kernels("", "Conv", 0).empty());
}

}  // namespace
}  // namespace quench
