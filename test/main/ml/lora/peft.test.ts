import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readConfigJson } from '../../../../src/main/ml/config';
import { LoraAdapter } from '../../../../src/main/ml/lora/adapter';
import { loadPeftAdapter, readPeftAdapter, savePeftAdapter } from '../../../../src/main/ml/lora/peft';
import { createModel } from '../../../../src/main/ml/models/registry';
import { Rng } from '../../../../src/main/ml/train/rng';
import { FIXTURES, TINY_GPT2, TINY_LLAMA, load, logitsOf, maxAbsDiff, spec, useCpu } from './helpers';

beforeAll(useCpu);

const IDS = [[5, 17, 300, 42, 7, 99]];
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'peft-test-'));

function randomizeB(adapter: LoraAdapter, seed: number): void {
  const rng = Rng.fromSeed(seed);
  for (const l of adapter.layers) l.loraB.assign(tf.tensor(rng.fillNormal(new Float32Array(l.loraB.size), 0, 0.5), l.loraB.shape));
}

/** An independent reader: Python's struct + json + numpy, not our safetensors code. */
function readWithPython(file: string): Record<string, { shape: number[]; sum: number; first: number }> {
  const script = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__')
assert meta['format'] == 'pt', meta
out = {}
for name, e in header.items():
    assert e['dtype'] == 'F32'
    b, end = e['data_offsets']
    a = np.frombuffer(raw[8 + n + b:8 + n + end], dtype='<f4').reshape(e['shape'])
    out[name] = {'shape': list(a.shape), 'sum': float(a.astype(np.float64).sum()), 'first': float(a.flat[0])}
print(json.dumps(out))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
}

describe('PEFT adapter files', () => {
  it('writes PEFT names, shapes and config that an independent reader agrees with (GPT-2 Conv1D: fan_in_fan_out)', () => {
    const model = load(TINY_GPT2);
    const adapter = LoraAdapter.attach(model, spec({ targets: ['c_attn', 'attn.c_proj'], r: 2, alpha: 4 }), Rng.fromSeed(1));
    randomizeB(adapter, 2);
    const dir = path.join(tmp(), 'adapter');
    savePeftAdapter(dir, adapter, { baseModel: TINY_GPT2, modelType: 'gpt2' });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 4, target_modules: ['c_attn', 'attn.c_proj'], fan_in_fan_out: true, use_rslora: false, bias: 'none' });
    const py = readWithPython(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.keys(py).sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.0.attn.c_proj.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_proj.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_proj.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_proj.lora_B.weight',
    ]);
    expect(py['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'].shape).toEqual([2, 2]); // [r, in]
    expect(py['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'].shape).toEqual([6, 2]); // [out, r]
    const b = adapter.layers[0].loraB.dataSync();
    expect(py['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'].first).toBe(b[0]);
    const adapted = logitsOf(model, IDS);
    adapter.detach();

    // loaded back into a fresh model: the same logits
    const again = load(TINY_GPT2);
    const loaded = loadPeftAdapter(dir, again);
    expect(loaded.layers.map((l) => l.name)).toEqual(adapter.layers.map((l) => l.name));
    expect(maxAbsDiff(logitsOf(again, IDS), adapted)).toBe(0);
    again.dispose();
    model.dispose();
  });

  it('saves a PiSSA adapter as plain LoRA (rank 2r) that applies to the original model', () => {
    const model = load(TINY_LLAMA);
    const adapter = LoraAdapter.attach(model, spec({ targets: ['q_proj', 'down_proj'], r: 2, alpha: 4, init: 'pissa' }), Rng.fromSeed(3));
    for (const l of adapter.layers) l.loraB.assign(tf.add(l.loraB, 0.05) as tf.Tensor2D); // "trained"
    const dir = path.join(tmp(), 'pissa');
    savePeftAdapter(dir, adapter, { baseModel: 'tiny', modelType: 'llama' });
    const adapted = logitsOf(model, IDS);
    adapter.detach();
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ r: 4, lora_alpha: 8, init_lora_weights: true });
    const fresh = load(TINY_LLAMA); // the original weights, not the residual
    loadPeftAdapter(dir, fresh);
    expect(maxAbsDiff(logitsOf(fresh, IDS), adapted)).toBeLessThan(1e-4);
    fresh.dispose();
    model.dispose();
  });

  it('reads the real PEFT GPT-2 adapter against a GPT-2-shaped model', () => {
    const dir = tmp();
    const gpt2 = { model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(gpt2));
    const skeleton = createModel(readConfigJson(dir)); // shapes only, no weights needed
    const files = readPeftAdapter(path.join(FIXTURES, 'peft-adapters/gpt2-c_attn-c_proj-r8'), skeleton);
    expect(files.spec).toMatchObject({ r: 8, alpha: 32, targets: ['c_attn', 'c_proj'], layers: null });
    expect(files.factors.size).toBe(36); // c_attn, attn.c_proj, mlp.c_proj × 12 layers
    expect(files.factors.get('transformer.h.0.attn.c_attn')!.b.length).toBe(2304 * 8);
  });

  it('refuses adapters that do not fit, reporting every problem', () => {
    const model = load(TINY_GPT2);
    expect(() => readPeftAdapter(path.join(FIXTURES, 'peft-adapters/gpt2-c_attn-c_proj-r8'), model)).toThrow(
      /transformer\.h\.2\.attn\.c_attn.*which this gpt2 model does not have.*has shape \[8, 768\], expected \[8, 2\]/s,
    );
    expect(() => readPeftAdapter(path.join(FIXTURES, 'peft-adapters/gpt2-seqcls-c_attn-r8'), model)).toThrow(/task_type is SEQ_CLS \(a sequence-classification adapter\); only CAUSAL_LM adapters apply/);
    expect(() => readPeftAdapter(tmp(), model)).toThrow(/not a PEFT adapter folder \(no adapter_config\.json\)/);
    model.dispose();
  });
});
