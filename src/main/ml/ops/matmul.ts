/**
 * Matrix products in the shapes the wasm backend runs fast, with gradients computed the same way.
 *
 *   matMul(a, b, transposeA, transposeB)   a [..., M, K] (or [..., K, M]), b [..., K, N] (or [..., N, K])
 *
 * On every backend but `wasm` this is tf.matMul. tfjs-backend-wasm (4.x) hands a BatchMatMul to
 * XNNPACK only when it is one plain 2-D product (batch 1, neither operand flagged as transposed);
 * anything else runs a scalar triple loop, measured here at 1.3-2.3 GFLOP/s against 15-31 for
 * XNNPACK on the same shapes. tfjs' own gradient of a product is a pair of transposed products,
 * so even a forward pass written in plain 2-D shapes trains on the slow loop.
 *
 * On wasm, `matMul` runs the kernel registered below instead, and its registered gradient calls
 * `matMul` again, so forward and backward both reach XNNPACK:
 * - batch dims are folded: x [B, T, in] · W → [B·T, in] · W when b is 2-D; equal batch dims
 *   (attention's [B, heads]) become one 2-D product per batch element, read in place (views over
 *   the operand's memory) and written into the batched output;
 * - transposes are materialised with the Transpose kernel (200-500 Melem/s) so that XNNPACK sees
 *   a·b with b [K, N]. Of C = a·b and Cᵀ = bᵀ·aᵀ, the one that moves fewer elements is run
 *   (transposes + XNNPACK packing the right operand + an output transpose): for a decode step
 *   x [1, in] · Wᵀ that is W·xᵀ, which never transposes the weight.
 * - XNNPACK caches the packed right operand per tensor id until that tensor is disposed; the
 *   right operand is handed over as a fresh view, so a frozen weight [out, in] used in dx = dy·W
 *   is not kept packed (a second copy of every weight) for the life of the model, except the
 *   few large ones where repacking costs most (KEEP_PACKED_MIN).
 * - the gradient of a frozen operand is never computed: tfjs asks the registered gradient only
 *   for the inputs on the path to the variables (a tf.customGrad would compute dW = dyᵀ·x too).
 *
 * Views use only BackendWasm's typed members (makeOutput with a memory offset, dataIdMap,
 * wasm.tfjs.disposeData; tfjs-backend-wasm 4.22); the Transpose and BatchMatMul kernels are the
 * package's own, taken from tfjs' kernel registry.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, Tensor, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Name of the kernel (registered for `wasm` only) and of its gradient. */
export const XNN_MATMUL = 'LoraStudioXnnMatMul';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * a·b with optional transposes, like tf.matMul, for float32 a [..., M, K] and b [..., K, N] whose
 * batch dims are equal or where b is 2-D (and a not transposed); other cases are tf.matMul.
 */
export function matMul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  if (tf.getBackend() !== 'wasm' || a.dtype !== 'float32' || b.dtype !== 'float32' || a.rank < 2 || b.rank < 2) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  registerXnnMatMul();
  const attrs = { transposeA, transposeB } as unknown as NamedAttrMap;
  const run = (x: Tensor, y: Tensor) => tf.engine().runKernel(XNN_MATMUL, { a: x, b: y }, attrs) as Tensor;
  if (a.rank === 2 && b.rank === 2) return run(a, b);
  const lead = a.shape.slice(0, -2);
  if (b.rank === 2 && !transposeA) {
    // [..., M, K] · [K, N]: every row of every batch element meets the same b
    const [M, K] = a.shape.slice(-2);
    return tf.tidy(() => {
      const y = run(a.reshape([-1, K]), b); // [prod(lead)·M, N]
      return y.reshape([...lead, M, y.shape[1] as number]);
    });
  }
  if (a.rank === b.rank && tf.util.arraysEqual(lead, b.shape.slice(0, -2))) {
    if (a.rank === 3) return run(a, b);
    const batch = tf.util.sizeFromShape(lead);
    return tf.tidy(() => {
      const y = run(a.reshape([batch, ...a.shape.slice(-2)]), b.reshape([batch, ...b.shape.slice(-2)])); // [batch, M, N]
      return y.reshape([...lead, ...y.shape.slice(-2)]);
    });
  }
  return tf.matMul(a, b, transposeA, transposeB);
}

let registered = false;
/** The wasm kernels ours is made of, taken once: called directly, as backends' kernels call each other. */
let wasmKernels: { transpose: KernelFunc; batchMatMul: KernelFunc } | null = null;

/** Registers the wasm kernel and its gradient (idempotent). Needs @tensorflow/tfjs-backend-wasm loaded. */
export function registerXnnMatMul(): void {
  if (registered) return;
  const transpose = tf.getKernel('Transpose', 'wasm');
  const batchMatMul = tf.getKernel('BatchMatMul', 'wasm');
  if (!transpose || !batchMatMul) throw new Error('matMul: the wasm backend has no Transpose or BatchMatMul kernel (is @tensorflow/tfjs-backend-wasm loaded?)');
  wasmKernels = { transpose: transpose.kernelFunc, batchMatMul: batchMatMul.kernelFunc };
  if (!tf.getKernel(XNN_MATMUL, 'wasm')) tf.registerKernel({ kernelName: XNN_MATMUL, backendName: 'wasm', kernelFunc: xnnMatMul as unknown as KernelFunc });
  if (!tf.getGradient(XNN_MATMUL)) {
    tf.registerGradient({
      kernelName: XNN_MATMUL,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
        const g = dy as Tensor;
        const [a, b] = saved;
        const { transposeA: tA, transposeB: tB } = attrs as unknown as MatMulAttrs;
        // C = op(a)·op(b): the four cases of tfjs' BatchMatMul gradient, each one more matMul.
        if (!tA && !tB) return { a: () => matMul(g, b, false, true), b: () => matMul(a, g, true, false) };
        if (!tA && tB) return { a: () => matMul(g, b, false, false), b: () => matMul(g, a, true, false) };
        if (tA && !tB) return { a: () => matMul(b, g, false, true), b: () => matMul(a, g, false, false) };
        return { a: () => matMul(b, g, true, true), b: () => matMul(g, a, true, true) };
      },
    });
  }
  registered = true;
}

/**
 * XNNPACK's packing of the right operand, per element, in units of one transposed element: measured
 * ~4 ns against ~2 ns (packing [1024, 576] for an [8, 1024]·[1024, 576] product took 2.5 ms).
 */
const PACK = 2;

/**
 * Right operands of at least this many elements that are the caller's own tensors stay packed in
 * XNNPACK's cache: repacking the LM head's weight took ~13% of a small step (17 ns per element for
 * [8192, 576]). Smaller ones (every layer's weights) are packed per use: keeping all of them would
 * hold a second copy of the model in the 4 GiB heap.
 */
const KEEP_PACKED_MIN = 1 << 22;

/** Elements moved besides the product: transposes, XNNPACK's packing of the right operand, output transpose. */
export function orientationCosts(M: number, N: number, K: number, transposeA: boolean, transposeB: boolean): { plain: number; swapped: number } {
  return {
    plain: (transposeA ? M * K : 0) + (transposeB ? K * N : 0) + PACK * K * N, // a'[M,K] · b'[K,N]
    swapped: (transposeB ? 0 : K * N) + (transposeA ? 0 : M * K) + PACK * K * M + M * N, // (b'ᵀ[N,K] · a'ᵀ[K,M])ᵀ
  };
}

type Inputs = { a: TensorInfo; b: TensorInfo };

/** The kernel: a, b both 2-D, or both 3-D with the same batch size (see matMul). */
function xnnMatMul(args: { inputs: NamedTensorInfoMap; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo {
  const { a, b } = args.inputs as unknown as Inputs;
  const backend = args.backend;
  const { transposeA: tA, transposeB: tB } = args.attrs as unknown as MatMulAttrs;
  const batched = a.shape.length === 3;
  const batch = batched ? a.shape[0] : 1;
  const [aR, aC] = a.shape.slice(-2);
  const [bR, bC] = b.shape.slice(-2);
  const [M, K] = tA ? [aC, aR] : [aR, aC];
  const [Kb, N] = tB ? [bC, bR] : [bR, bC];
  if (K !== Kb || (batched && (b.shape.length !== 3 || b.shape[0] !== batch)) || (!batched && b.shape.length !== 2)) {
    throw new Error(`matMul: cannot multiply [${a.shape.join(', ')}]${tA ? 'ᵀ' : ''} by [${b.shape.join(', ')}]${tB ? 'ᵀ' : ''}`);
  }
  const outShape = batched ? [batch, M, N] : [M, N];
  if (M * N === 0 || K === 0) return backend.makeOutput(outShape, 'float32', undefined, new Float32Array(batch * M * N)); // K = 0: zeros

  const kernels = wasmKernels as NonNullable<typeof wasmKernels>;
  const transpose = (x: TensorInfo) => kernels.transpose({ inputs: { x }, backend, attrs: { perm: batched ? [0, 2, 1] : [1, 0] } }) as TensorInfo;
  const temps: TensorInfo[] = []; // made here, released at the end
  const own = (x: TensorInfo) => (temps.push(x), x);

  const cost = orientationCosts(M, N, K, tA, tB);
  const swap = cost.swapped < cost.plain;
  // plain: left [M, K] · right [K, N]; swapped: left [N, K] · right [K, M], then transposed
  const left = swap ? (tB ? b : own(transpose(b))) : tA ? own(transpose(a)) : a;
  const right = swap ? (tA ? a : own(transpose(a))) : tB ? own(transpose(b)) : b;
  const rows = swap ? N : M;
  const cols = swap ? M : N;

  const product2d = (l: TensorInfo, r: TensorInfo) => kernels.batchMatMul({ inputs: { a: l, b: r }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
  let product: TensorInfo | null = null; // [batch?, rows, cols]
  try {
    if (!batched) {
      // A large operand of the caller's (an LM head's [vocab, hidden] weight in dx = dy·E) keeps
      // its packed copy in XNNPACK's cache for as long as it lives; any other goes in as a fresh
      // view, whose packed copy is dropped with it.
      const keepPacked = (right === a || right === b) && K * cols >= KEEP_PACKED_MIN;
      const r = keepPacked ? right : view(backend, right, 0, [K, cols]);
      try {
        product = product2d(left, r);
      } finally {
        if (r !== right) releaseView(backend, r);
      }
    } else {
      product = backend.makeOutput([batch, rows, cols], 'float32');
      for (let i = 0; i < batch; i++) {
        const l = view(backend, left, i * rows * K, [rows, K]);
        const r = view(backend, right, i * K * cols, [K, cols]);
        try {
          const c = product2d(l, r);
          // Views of the heap are taken after the allocation: a growing wasm memory detaches older ones.
          backend.typedArrayFromHeap(product).set(backend.typedArrayFromHeap(c), i * rows * cols);
          backend.disposeData(c.dataId);
        } finally {
          releaseView(backend, l);
          releaseView(backend, r);
        }
      }
    }
    if (swap) return { ...transpose(product), shape: outShape }; // product is released below
    const result = product;
    product = null;
    return { ...result, shape: outShape };
  } finally {
    if (product) backend.disposeData(product.dataId);
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** A tensor over `shape` elements of `t`'s memory from element `offset` on, with its own id. */
function view(backend: BackendWasm, t: TensorInfo, offset: number, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32', backend.getMemoryOffset(t.dataId) + offset * 4);
}

/** Forgets a view (the memory belongs to the tensor it looks into); runs XNNPACK's disposal hooks. */
function releaseView(backend: BackendWasm, v: TensorInfo): void {
  const data = backend.dataIdMap.get(v.dataId);
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(v.dataId);
}
