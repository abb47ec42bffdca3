# LoRA Studio's native CPU kernels: GEMM through the system BLAS (OpenBLAS on
# Linux, Accelerate on macOS) and threaded loops for everything else.
# Built by scripts/build-native.mjs; loaded by src/main/ml/native/addon.ts.
{
  "targets": [
    {
      "target_name": "lora_native",
      "sources": [
        "src/addon.cc",
        "src/pool.cc",
        "src/gemm.cc",
        "src/elementwise.cc",
        "src/reduce.cc",
        "src/transpose.cc",
        "src/fused.cc",
        "src/merge.cc",
        "src/files.cc",
        "src/merge_file.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      # -O3 so the loops vectorise; no -ffast-math: results must be
      # deterministic and IEEE (NaN/Inf propagate as in tfjs). Wider SIMD
      # comes from per-function target_clones in vmath.h, so one binary runs
      # on any x86-64 CPU.
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", {
          "libraries": ["-lopenblas", "-lpthread"],
          "defines": ["LORA_BLAS_OPENBLAS=1"]
        }],
        ["OS=='mac'", {
          "libraries": ["-framework Accelerate"],
          "defines": ["LORA_BLAS_ACCELERATE=1", "ACCELERATE_NEW_LAPACK=1"],
          "xcode_settings": {
            "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math"],
            "MACOSX_DEPLOYMENT_TARGET": "13.3"
          }
        }]
      ]
    }
  ]
}
