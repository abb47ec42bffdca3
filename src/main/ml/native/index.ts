/**
 * LoRA Studio's fast CPU path: a tfjs backend named `native` whose heavy kernels run in a C++
 * addon (BLAS GEMM, threaded SIMD loops); everything else is tfjs's CPU backend.
 *
 *   const r = await registerNativeBackend();
 *   if (r.ok) { await tf.setBackend(r.backendName); setOps(r.ops); } else console.warn(r.reason);
 *
 * The addon is optional: when it is not built (no compiler or BLAS at install) or cannot load,
 * `nativeAvailable()` says exactly why and nothing is registered.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';
import { loadAddon, type NativeAddon } from './addon';
import { NATIVE_BACKEND, NativeBackend, cpuKernel } from './backend';
import { elementwiseKernels } from './kernels/elementwise';
import { matmulKernels } from './kernels/matmul';
import { movementKernels } from './kernels/movement';
import { reduceKernels } from './kernels/reduce';
import { nativeOps } from './ops';

export { NATIVE_BACKEND } from './backend';
export { nativeOps } from './ops';

export type NativeStatus = { ok: true } | { ok: false; reason: string };
/** What registration gives: the tfjs backend name and the fused Ops to install with setOps(). */
export type NativeRegistration = { ok: true; backendName: string; ops: typeof nativeOps } | { ok: false; reason: string };

/** Whether the addon loads here; the reason when it does not. */
export function nativeAvailable(): NativeStatus {
  const load = loadAddon();
  return load.ok ? { ok: true } : { ok: false, reason: load.reason };
}

/** The kernels registered for `native`: every CPU kernel, with the native ones in place of theirs. */
export function nativeKernelConfigs(addon: NativeAddon): KernelConfig[] {
  const byName = new Map<string, KernelConfig>();
  for (const config of tf.getKernelsForBackend('cpu')) {
    byName.set(config.kernelName, { ...config, backendName: NATIVE_BACKEND, kernelFunc: cpuKernel(config.kernelName) });
  }
  for (const config of [...matmulKernels(), ...elementwiseKernels(addon), ...reduceKernels(), ...movementKernels()]) {
    byName.set(config.kernelName, config);
  }
  return [...byName.values()];
}

/** Names of the kernels that run natively (the rest run tfjs's CPU code). */
export function nativeKernelNames(): string[] {
  const load = loadAddon();
  if (!load.ok) return [];
  return [...matmulKernels(), ...elementwiseKernels(load.addon), ...reduceKernels(), ...movementKernels()].map((c) => c.kernelName);
}

/**
 * Registers the `native` backend (idempotent). `priority` as in tf.registerBackend: the default 0
 * never wins tfjs's automatic choice, so callers select it with tf.setBackend('native').
 */
export async function registerNativeBackend(options: { priority?: number } = {}): Promise<NativeRegistration> {
  const load = loadAddon();
  if (!load.ok) return { ok: false, reason: load.reason };
  if (!tf.findBackendFactory(NATIVE_BACKEND)) {
    const addon = load.addon;
    for (const config of nativeKernelConfigs(addon)) tf.registerKernel(config);
    tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon), options.priority ?? 0);
  }
  return { ok: true, backendName: NATIVE_BACKEND, ops: nativeOps };
}

/** Threads the addon uses (default: all cores). */
export function setNativeThreads(n: number): number {
  const load = loadAddon();
  if (!load.ok) throw new Error(`native backend unavailable: ${load.reason}`);
  return load.addon.setThreads(n);
}

/** Returns the native backend's pooled output buffers to the garbage collector (e.g. after training). */
export function releaseNativeMemory(): void {
  const factory = tf.findBackend(NATIVE_BACKEND);
  if (factory instanceof NativeBackend) factory.releasePool();
}

/** What the addon runs on: thread count, GEMM mode, the BLAS build. Null when unavailable. */
export function nativeInfo(): { threads: number; gemmMode: string; blas: string; file: string } | null {
  const load = loadAddon();
  return load.ok ? { ...load.addon.info(), file: load.file } : null;
}
