/**
 * Makes the tfjs wasm backend (@tensorflow/tfjs-backend-wasm 4.x) fit for training. Call
 * `tuneWasmBackend()` once after the package is imported (src/main/ml/backends.ts does, and the
 * benchmarks); it is idempotent and changes nothing on other backends.
 *
 * - registers ./matmul.ts's XNNPACK-shaped product and its gradient;
 * - makes the `Identity` kernel share its input's memory, as the cpu and webgl backends do. tfjs
 *   clones every tensor it saves for the backward pass through Identity, and the wasm kernel
 *   copies: a training step copied each saved activation and each frozen weight a product reads
 *   (the weights alone: 14 MB per SmolLM2 layer per step), which doubled the activation memory
 *   that must fit in wasm32's 4 GiB heap. Sharing is safe because tfjs never writes into a
 *   tensor's memory after the kernel that made it returns (variables get new memory on assign).
 *
 * Threads are not used: the threaded build cannot run robustly under Node. Findings (tfjs 4.22,
 * Node 20, this project's 2-core machine):
 * - the package turns threads off under Node (flag WASM_HAS_MULTITHREAD_SUPPORT is false when
 *   IS_NODE, tfjs issue #3830): it loads the single-threaded SIMD binary, and
 *   tf.wasm.setThreadsCount(2) changes nothing (getThreadsCount() → 1).
 * - forcing the flag fails at init: the pthread worker is given as a blob: URL, which Node's
 *   worker_threads refuse (ERR_WORKER_PATH).
 * - a shim does start it, but only around tfjs' own init: call the threaded Emscripten factory
 *   ourselves, write the worker script (shipped only as a string export, its "\n" escapes decoded)
 *   to a temp .cjs file, hand file paths to locateFile/mainScriptUrlOrBlob, build BackendWasm
 *   ourselves and register it with every wasm kernel: unexported internals of one release.
 * - the C++ side caps threads at emscripten_num_logical_cores()/2 = os.cpus().length/2, so a
 *   2-core machine still gets 1 thread unless os.cpus is patched during init; Emscripten starts
 *   a pool of 8 workers (8 Node isolates) whatever the count, and running pthreads keep the
 *   process alive (it did not exit until killed).
 * - the gain is not there on 2 shared cores: [1024, 576]·[576, 1536] 42.6 vs 29.4 GFLOP/s at
 *   load 2.5, but attention-sized [768, 64]·[64, 256] 14.1 vs 25.4 (slower), and at load 5-7 the
 *   2-thread build was slower on every product (12.9 vs 22 GFLOP/s).
 * Machines that need speed take the native backend (BLAS, its own threads); wasm is the fallback.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerXnnMatMul } from './matmul';

let tuned = false;

export function tuneWasmBackend(): void {
  if (tuned) return;
  if (!tf.getKernel('Identity', 'wasm')) throw new Error('tuneWasmBackend: @tensorflow/tfjs-backend-wasm is not loaded (no wasm kernels registered)');
  registerXnnMatMul();
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity as unknown as KernelFunc });
  tuned = true;
}

/** x → a tensor over the same memory (reference-counted by the backend). */
function sharedIdentity(args: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
