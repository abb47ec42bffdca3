/**
 * Qwen2 (q/k/v biases, no Q/K permutation) and Mistral (exported as llama, grouped-query K
 * permuted with the KV head count): tiny random checkpoints built here, exported merged and as
 * GGUF. The GPT-2 tokenizer of the fixtures stands in for their byte-level BPE tokenizers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { moduleScale, readAdapterWeights } from '../../../src/main/adapters/peft-files';
import { GgufReader } from '../../../src/main/ml/gguf/reader';
import { writeSafetensors, type TensorToWrite } from '../../../src/main/ml/safetensors';
import { exportGguf } from '../../../src/main/export/gguf';
import { noopContext } from '../../../src/main/export/job';
import { exportMerged } from '../../../src/main/export/merged';
import { permuteQK } from '../../../src/main/export/permute';
import { TINY_GPT2 } from '../adapters/fixtures';
import { denseDelta, randomArray } from '../adapters/helpers';
import { writeTestAdapter } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'export-families-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const H = 16;
const HEADS = 4;
const KV = 2;
const FF = 32;
const VOCAB = 50257;
const KV_DIM = (H / HEADS) * KV;

function writeModel(dir: string, modelType: 'qwen2' | 'mistral'): string {
  fs.mkdirSync(dir, { recursive: true });
  let seed = 100;
  const t = (name: string, shape: number[], scale = 0.1): TensorToWrite => ({ name, dtype: 'F32', shape, data: randomArray(shape.reduce((a, b) => a * b, 1), seed++, scale) });
  const tensors: TensorToWrite[] = [t('model.embed_tokens.weight', [VOCAB, H]), t('lm_head.weight', [VOCAB, H]), t('model.norm.weight', [H], 0)];
  tensors[2].data = new Float32Array(H).fill(1);
  const p = 'model.layers.0';
  tensors.push(
    { name: `${p}.input_layernorm.weight`, dtype: 'F32', shape: [H], data: new Float32Array(H).fill(1) },
    { name: `${p}.post_attention_layernorm.weight`, dtype: 'F32', shape: [H], data: new Float32Array(H).fill(1) },
    t(`${p}.self_attn.q_proj.weight`, [H, H]),
    t(`${p}.self_attn.k_proj.weight`, [KV_DIM, H]),
    t(`${p}.self_attn.v_proj.weight`, [KV_DIM, H]),
    t(`${p}.self_attn.o_proj.weight`, [H, H]),
    t(`${p}.mlp.gate_proj.weight`, [FF, H]),
    t(`${p}.mlp.up_proj.weight`, [FF, H]),
    t(`${p}.mlp.down_proj.weight`, [H, FF]),
  );
  if (modelType === 'qwen2') tensors.push(t(`${p}.self_attn.q_proj.bias`, [H]), t(`${p}.self_attn.k_proj.bias`, [KV_DIM]), t(`${p}.self_attn.v_proj.bias`, [KV_DIM]));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const config = {
    architectures: [modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'MistralForCausalLM'],
    model_type: modelType,
    vocab_size: VOCAB,
    hidden_size: H,
    intermediate_size: FF,
    num_hidden_layers: 1,
    num_attention_heads: HEADS,
    num_key_value_heads: KV,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) fs.copyFileSync(path.join(TINY_GPT2, f), path.join(dir, f));
  return dir;
}

const MODULES = [
  { name: 'model.layers.0.self_attn.q_proj', inFeatures: H, outFeatures: H },
  { name: 'model.layers.0.self_attn.k_proj', inFeatures: H, outFeatures: KV_DIM },
  { name: 'model.layers.0.mlp.down_proj', inFeatures: FF, outFeatures: H },
];

for (const modelType of ['qwen2', 'mistral'] as const) {
  describe(modelType, () => {
    const base = writeModel(path.join(tmp, `${modelType}-base`), modelType);
    const adapter = writeTestAdapter(path.join(tmp, `${modelType}-adapter`), MODULES, { seed: 31, scale: 0.6 });

    it('merged export (bf16) passes the logits check', async () => {
      const res = await exportMerged({ adapterDir: adapter, baseDir: base, outDir: path.join(tmp, `${modelType}-merged`), dtype: 'bf16', chatTemplate: null, adapterName: 'a', baseModelName: modelType }, noopContext);
      expect(res.verification?.passed).toBe(true);
    });

    it(`GGUF: architecture ${modelType === 'qwen2' ? 'qwen2 with biases, Q/K not permuted' : 'llama, K permuted with the KV head count'}`, async () => {
      const outFile = path.join(tmp, `${modelType}-gguf`, 'model.gguf');
      const res = await exportGguf({ adapterDir: adapter, baseDir: base, outFile, type: 'f32', modelfile: false, chatTemplate: null, name: modelType }, noopContext);
      expect(res.vocab.pre).toBe('gpt-2');
      const r = GgufReader.open(outFile);
      try {
        const arch = modelType === 'qwen2' ? 'qwen2' : 'llama';
        expect(r.get('general.architecture')).toBe(arch);
        expect([r.get(`${arch}.attention.head_count`), r.get(`${arch}.attention.head_count_kv`)]).toEqual([HEADS, KV]);
        expect(r.get('llama.rope.dimension_count')).toBe(modelType === 'qwen2' ? undefined : H / HEADS);
        const names = r.tensors.map((t) => t.name);
        if (modelType === 'qwen2') expect(names).toEqual(expect.arrayContaining(['blk.0.attn_q.bias', 'blk.0.attn_k.bias', 'blk.0.attn_v.bias']));

        const w = readAdapterWeights(adapter);
        const { SafetensorsReader } = await import('../../../src/main/ml/safetensors');
        const st = SafetensorsReader.open(path.join(base, 'model.safetensors'));
        const merged = (module: string) => {
          const m = w.modules.find((x) => x.name === module)!;
          const d = denseDelta(m, moduleScale(m, false));
          return Float32Array.from(st.readFloat32(`${module}.weight`), (v, i) => v + d[i]);
        };
        const k = merged('model.layers.0.self_attn.k_proj');
        const q = merged('model.layers.0.self_attn.q_proj');
        const wantK = modelType === 'qwen2' ? k : permuteQK(k, KV_DIM, H, KV);
        const wantQ = modelType === 'qwen2' ? q : permuteQK(q, H, H, HEADS);
        const gotK = r.readFloat32('blk.0.attn_k.weight');
        const gotQ = r.readFloat32('blk.0.attn_q.weight');
        for (let i = 0; i < k.length; i++) expect(gotK[i]).toBeCloseTo(wantK[i], 5);
        for (let i = 0; i < q.length; i++) expect(gotQ[i]).toBeCloseTo(wantQ[i], 5);
        if (modelType === 'qwen2') expect(Array.from(r.readFloat32('blk.0.attn_k.bias'))).toEqual(Array.from(st.readFloat32('model.layers.0.self_attn.k_proj.bias')));
        st.close();
      } finally {
        r.close();
      }
    });
  });
}
