// Elementwise float32 kernels: unary maps and binary maps with NumPy
// broadcasting.
#pragma once

#include <cstdint>
#include <vector>

namespace lora {

// Names are tfjs kernel names; index = op code (JS reads the names from the
// addon, so the two never drift apart).
#define LORA_UNARY_OPS(X) \
  X(Exp) X(Log) X(Sqrt) X(Rsqrt) X(Square) X(Neg) X(Sigmoid) X(Tanh) X(Relu) X(Abs) X(Reciprocal) X(Softplus)
#define LORA_BINARY_OPS(X) \
  X(Add) X(Sub) X(Multiply) X(RealDiv) X(Maximum) X(Minimum) X(Pow) X(SquaredDifference)
// Comparisons: float32 operands, bool (uint8 0/1) result, as tfjs stores bool.
#define LORA_COMPARE_OPS(X) \
  X(Equal) X(NotEqual) X(Greater) X(GreaterEqual) X(Less) X(LessEqual)

enum UnaryOp {
#define X(name) kUnary##name,
  LORA_UNARY_OPS(X)
#undef X
      kUnaryCount
};

enum BinaryOp {
#define X(name) kBinary##name,
  LORA_BINARY_OPS(X)
#undef X
      kBinaryCount
};

enum CompareOp {
#define X(name) kCompare##name,
  LORA_COMPARE_OPS(X)
#undef X
      kCompareCount
};

extern const char* const kUnaryNames[];
extern const char* const kBinaryNames[];
extern const char* const kCompareNames[];

void unary(int op, const float* x, float* out, int64_t n);

// Shapes are the operands' own; out has the broadcast shape.
void binary(int op, const float* a, const std::vector<int64_t>& aShape, const float* b,
            const std::vector<int64_t>& bShape, float* out);
void compare(int op, const float* a, const std::vector<int64_t>& aShape, const float* b,
             const std::vector<int64_t>& bShape, uint8_t* out);

// Broadcast shape of two operands; false when they do not broadcast.
bool broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b, std::vector<int64_t>* out);

// Runs f(a, sa, b, sb, out, n) over every innermost run of the broadcast of a
// and b (sa, sb in {0, 1}), in parallel over flat output ranges; out elements
// are `out_bytes` wide.
using BinaryRowFn = void (*)(int op, const float* a, int64_t sa, const float* b, int64_t sb, void* out, int64_t n);
void broadcast_rows(int op, BinaryRowFn f, const float* a, const std::vector<int64_t>& aShape, const float* b,
                    const std::vector<int64_t>& bShape, void* out, int out_bytes, int64_t grain);

}  // namespace lora
