/**
 * The backend ladder, fastest first:
 *
 *   tensorflow-gpu  @tensorflow/tfjs-node-gpu (TensorFlow C library with CUDA)
 *   tensorflow      @tensorflow/tfjs-node (TensorFlow C library, CPU)
 *   native          our addon (src/main/ml/native/index.ts): BLAS kernels + fused Ops
 *   wasm            @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD), with ops/fused.ts' one-node ops
 *   cpu             tfjs' plain JavaScript kernels (always there)
 *
 * The optional packages are imported dynamically (by a computed name, so neither TypeScript nor
 * a bundler requires them) and every failure is kept as the reason shown to the user.
 * `probeBackends()` never changes the active backend (the status panel calls it during a run);
 * `selectBackend()` does.
 *
 * Contract for src/main/ml/native/index.ts (written separately): it exports
 *   registerNativeBackend(): NativeRegistration | Promise<NativeRegistration>
 * which loads the addon, registers a tfjs backend (idempotently: it may be called more than once)
 * and returns `{ ok: true }` (optionally with the tfjs backend name and fused Ops; otherwise the
 * module's `NATIVE_BACKEND` and `nativeOps` exports are used), or `{ ok: false, reason }`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../../shared/contract';
import { compositeOps, setOps, type Ops } from './ops';
import { fusedOps } from './ops/fused';
import { tuneWasmBackend } from './ops/wasm';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'native' | 'wasm' | 'cpu';

export const BACKEND_LADDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'];

const LABELS: Record<BackendName, string> = {
  'tensorflow-gpu': 'TensorFlow with CUDA (tfjs-node-gpu)',
  tensorflow: 'TensorFlow CPU (tfjs-node)',
  native: 'Native CPU (BLAS addon)',
  wasm: 'WebAssembly (tfjs-backend-wasm)',
  cpu: 'JavaScript CPU (tfjs)',
};

/** `backendName` defaults to the module's NATIVE_BACKEND export, else 'native'; `ops` to its `nativeOps` export. */
export type NativeRegistration = { ok: true; backendName?: string; ops?: Ops } | { ok: false; reason: string };

interface NativeModule {
  registerNativeBackend?: () => NativeRegistration | Promise<NativeRegistration>;
  NATIVE_BACKEND?: string;
  nativeOps?: Ops;
}

interface Probe {
  available: boolean;
  reason?: string;
  /** tfjs backend name to activate. */
  tfBackend?: string;
  ops?: Ops;
}

export interface SelectedBackend {
  name: BackendName;
  /** The tfjs backend now active (tf.getBackend()). */
  tfBackend: string;
  skipped: { name: string; reason: string }[];
}

const probes = new Map<BackendName, Promise<Probe>>();

/** Every rung of the ladder with whether it can run here and, if not, exactly why. Cached per process. */
export async function probeBackends(): Promise<BackendInfo[]> {
  const out: BackendInfo[] = [];
  for (const name of BACKEND_LADDER) {
    const p = await probe(name);
    out.push({ name, label: LABELS[name], available: p.available, ...(p.reason ? { reason: p.reason } : {}) });
  }
  return out;
}

/**
 * Activates `forced` (throws with the reason if it cannot run), or else the first rung that
 * initialises; returns what was skipped and why.
 */
export async function selectBackend(forced?: BackendName | string | null): Promise<SelectedBackend> {
  const skipped: { name: string; reason: string }[] = [];
  const candidates = forced ? [forced] : BACKEND_LADDER;
  for (const name of candidates) {
    if (!isBackendName(name)) throw new Error(`unknown backend "${name}" (known: ${BACKEND_LADDER.join(', ')})`);
    const p = await probe(name);
    let reason = p.reason;
    if (p.available && p.tfBackend) {
      if (await activate(p.tfBackend)) {
        setOps(p.ops ?? compositeOps);
        return { name, tfBackend: tf.getBackend(), skipped };
      }
      reason = `tfjs could not initialise the "${p.tfBackend}" backend`;
    }
    if (forced) throw new Error(`backend "${name}" is not available: ${reason ?? 'unknown reason'}`);
    skipped.push({ name, reason: reason ?? 'unavailable' });
  }
  throw new Error(`no backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_LADDER as readonly string[]).includes(s);
}

function probe(name: BackendName): Promise<Probe> {
  let p = probes.get(name);
  if (!p) {
    p = PROBES[name]().catch((err: unknown) => ({ available: false, reason: errorText(err) }));
    probes.set(name, p);
  }
  return p;
}

const PROBES: Record<BackendName, () => Promise<Probe>> = {
  'tensorflow-gpu': () => probeTfjsNode('@tensorflow/tfjs-node-gpu'),
  tensorflow: async () => {
    const gpu = await probe('tensorflow-gpu');
    if (gpu.available) {
      return { available: false, reason: "@tensorflow/tfjs-node-gpu already provides the 'tensorflow' backend in this process" };
    }
    return probeTfjsNode('@tensorflow/tfjs-node');
  },
  native: probeNative,
  wasm: probeWasm,
  cpu: async () => ({ available: true, tfBackend: 'cpu' }),
};

async function probeTfjsNode(pkg: string): Promise<Probe> {
  try {
    await importOptional(pkg); // registers the 'tensorflow' backend
  } catch (err) {
    return { available: false, reason: importFailure(pkg, err) };
  }
  if (!tf.findBackendFactory('tensorflow')) return { available: false, reason: `${pkg} loaded but registered no 'tensorflow' backend` };
  return { available: true, tfBackend: 'tensorflow' };
}

async function probeNative(): Promise<Probe> {
  let mod: NativeModule;
  try {
    mod = await importOptional(new URL('./native/index.js', import.meta.url).href);
  } catch (err) {
    if (isModuleNotFound(err)) return { available: false, reason: 'the native backend is not part of this build (no src/main/ml/native/index.ts)' };
    return { available: false, reason: `the native backend failed to load: ${errorText(err)}` };
  }
  if (typeof mod.registerNativeBackend !== 'function') {
    return { available: false, reason: 'src/main/ml/native/index.ts does not export registerNativeBackend()' };
  }
  const reg = await mod.registerNativeBackend();
  if (!reg.ok) return { available: false, reason: reg.reason };
  return { available: true, tfBackend: reg.backendName ?? mod.NATIVE_BACKEND ?? 'native', ops: reg.ops ?? mod.nativeOps };
}

async function probeWasm(): Promise<Probe> {
  const pkg = '@tensorflow/tfjs-backend-wasm';
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return { available: false, reason: 'this JavaScript runtime has no WebAssembly' };
  let mod: { setWasmPaths: (prefix: string) => void };
  try {
    mod = await importOptional(pkg);
  } catch (err) {
    return { available: false, reason: importFailure(pkg, err) };
  }
  // In Node the .wasm files are read from disk: point the backend at the package's dist/ folder.
  const dist = path.dirname(createRequire(import.meta.url).resolve(pkg));
  const wasmFile = path.join(dist, 'tfjs-backend-wasm.wasm');
  if (!fs.existsSync(wasmFile)) return { available: false, reason: `${wasmFile} is missing` };
  mod.setWasmPaths(dist + path.sep);
  tuneWasmBackend(); // XNNPACK-shaped products, no copies of saved tensors (src/main/ml/ops/wasm.ts)
  return { available: true, tfBackend: 'wasm', ops: fusedOps };
}

async function activate(tfBackend: string): Promise<boolean> {
  try {
    const ok = await tf.setBackend(tfBackend);
    await tf.ready();
    return ok;
  } catch {
    return false;
  }
}

/** import() by a computed specifier: optional packages need not exist at build time. */
async function importOptional<T>(specifier: string): Promise<T> {
  return (await import(/* @vite-ignore */ specifier)) as T;
}

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function importFailure(pkg: string, err: unknown): string {
  if (isModuleNotFound(err) && errorText(err).includes(pkg)) return `${pkg} is not installed`;
  return `${pkg} failed to load: ${errorText(err)}`;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
