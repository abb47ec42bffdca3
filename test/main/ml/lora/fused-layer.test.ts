/**
 * LoraLinear takes the active Ops' fused `loraLinear` when there is one (native, fused) and composes
 * the projection from `linear` otherwise: both give the same output and the same gradients for
 * x, A and B, with bias and with dropout (the same masks from the same Rng), and the base weight
 * stays frozen (no gradient is asked of it).
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LoraLinear } from '../../../../src/main/ml/lora/layer';
import { DenseLinear } from '../../../../src/main/ml/models/linear';
import { Weight } from '../../../../src/main/ml/models/weights';
import { compositeOps, setOps, type Ops } from '../../../../src/main/ml/ops';
import { fusedOps } from '../../../../src/main/ml/ops/fused';
import { Rng } from '../../../../src/main/ml/train/rng';
import { expectClose, randoms } from '../native/helpers';
import { useCpu } from './helpers';

beforeAll(useCpu);
afterEach(() => setOps(compositeOps));

function denseLayer(inF: number, outF: number, withBias: boolean): DenseLinear {
  const w = new Weight('proj.weight', [outF, inF]);
  w.assign(tf.tensor(randoms(outF * inF, 1), [outF, inF]));
  const b = withBias ? new Weight('proj.bias', [outF]) : null;
  b?.assign(tf.tensor(randoms(outF, 2), [outF]));
  return new DenseLinear('proj', inF, outF, w, b);
}

/** Output and gradients of x, A, B through a LoraLinear with the given Ops installed. */
function run(ops: Ops, withBias: boolean, dropout: number): { shape: number[]; dtype: string; values: Float32Array }[] {
  const [inF, outF, r] = [12, 7, 3];
  const base = denseLayer(inF, outF, withBias);
  const a = tf.variable(tf.tensor(randoms(r * inF, 3), [r, inF]));
  const b = tf.variable(tf.tensor(randoms(outF * r, 4), [outF, r]));
  const layer = new LoraLinear(base, a, b, r, 6, false, dropout);
  layer.dropoutRng = dropout > 0 ? Rng.fromSeed(5) : null;
  const prev = setOps(ops);
  try {
    return tf.tidy(() => {
      const x = tf.tensor(randoms(2 * 5 * inF, 6), [2, 5, inF]);
      const dy = tf.tensor(randoms(2 * 5 * outF, 7), [2, 5, outF]);
      const f = (xi: tf.Tensor, ai: tf.Tensor, bi: tf.Tensor) => {
        // the layer reads its own A and B: route the differentiated copies through them
        const l = new LoraLinear(base, ai as tf.Variable, bi as tf.Variable, r, 6, false, dropout);
        l.dropoutRng = dropout > 0 ? Rng.fromSeed(5) : null;
        return l.forward(xi);
      };
      const y = layer.forward(x);
      const grads = tf.grads(f)([x, a, b], dy);
      return [y, ...grads].map((t) => ({ shape: t.shape.slice(), dtype: t.dtype, values: t.dataSync() as Float32Array }));
    });
  } finally {
    setOps(prev);
    tf.dispose([a, b, base.weight.value, ...(base.bias ? [base.bias.value] : [])]);
  }
}

describe('LoraLinear with a fused loraLinear in the active Ops', () => {
  it.each([
    [false, 0],
    [true, 0],
    [true, 0.3],
  ])('bias %s, dropout %s: same output and x/A/B gradients as the composed form', (withBias, dropout) => {
    const composed = run(compositeOps, withBias, dropout);
    const fused = run(fusedOps, withBias, dropout);
    fused.forEach((g, i) => expectClose(g, composed[i], 1e-5, ['y', 'dx', 'dA', 'dB'][i]));
    if (dropout > 0) {
      // dropout really acted: without it the output differs
      const plain = run(compositeOps, withBias, 0);
      expect(Math.max(...plain[0].values.map((v, i) => Math.abs(v - composed[0].values[i])))).toBeGreaterThan(1e-3);
    }
  });

  it('calls the fused op (and not linear for A and B) when the Ops has one', () => {
    const calls: string[] = [];
    const spy: Ops = {
      ...fusedOps,
      linear: (...args) => (calls.push('linear'), fusedOps.linear(...args)),
      loraLinear: (...args) => (calls.push('loraLinear'), (fusedOps.loraLinear as NonNullable<Ops['loraLinear']>)(...args)),
    };
    run(spy, true, 0.1);
    expect(calls.filter((c) => c === 'loraLinear').length).toBeGreaterThan(0);
    expect(calls).not.toContain('linear');
  });
});
