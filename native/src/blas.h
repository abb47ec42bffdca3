// The system BLAS: OpenBLAS (Linux) or Accelerate (macOS).
#pragma once

#if defined(LORA_BLAS_ACCELERATE)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#if !defined(LORA_BLAS_ACCELERATE)
// OpenBLAS's own controls, declared weak so that a build against another
// CBLAS still links; the addon checks the pointers before calling them.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
char* openblas_get_corename(void) __attribute__((weak));
}
#endif
