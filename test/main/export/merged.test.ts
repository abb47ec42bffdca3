import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAdapterWeights, moduleScale } from '../../../src/main/adapters/peft-files';
import { SafetensorsReader } from '../../../src/main/ml/safetensors';
import { exportMerged, type MergedDtype } from '../../../src/main/export/merged';
import { noopContext } from '../../../src/main/export/job';
import { checkPromptIds, compareLogits, exportedLogits, referenceLogits } from '../../../src/main/export/verify';
import { TINY_GPT2, TINY_LLAMA } from '../adapters/fixtures';
import { denseDelta } from '../adapters/helpers';
import { GPT2_MODULES, LLAMA_MODULES, writeTestAdapter } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'merged-export-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const llamaAdapter = writeTestAdapter(path.join(tmp, 'llama-adapter'), LLAMA_MODULES, { seed: 1, scale: 0.6 });
const gpt2Adapter = writeTestAdapter(path.join(tmp, 'gpt2-adapter'), GPT2_MODULES, { seed: 2, scale: 0.8, fanInFanOut: true });

function req(adapterDir: string, baseDir: string, out: string, dtype: MergedDtype, extra: object = {}) {
  return { adapterDir, baseDir, outDir: path.join(tmp, out), dtype, chatTemplate: null, adapterName: 'test', baseModelName: path.basename(baseDir), ...extra };
}

describe('merged export', () => {
  it('the adapter really changes the logits (so the check below can fail)', () => {
    const adapter = readAdapterWeights(llamaAdapter);
    const prompts = checkPromptIds(TINY_LLAMA, 32000);
    const withAdapter = referenceLogits(TINY_LLAMA, adapter, prompts);
    const base = exportedLogits(TINY_LLAMA, prompts);
    expect(compareLogits(withAdapter, base, 32000, 'BF16').passed).toBe(false);
  });

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`tiny-random-llama, ${dtype}: logits equal base + adapter, W' = W + s·B·A`, async () => {
      const res = await exportMerged(req(llamaAdapter, TINY_LLAMA, `llama-${dtype}`, dtype), noopContext);
      expect(res.verification?.passed).toBe(true);
      expect(res.verification?.top1Agreement).toBeGreaterThan(0.9);
      expect(res.mergedModules).toBe(8);
      const files = fs.readdirSync(res.outDir).sort();
      expect(files).toEqual(['README.md', 'config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
      const cfg = JSON.parse(fs.readFileSync(path.join(res.outDir, 'config.json'), 'utf8'));
      expect(cfg.torch_dtype).toBe({ f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[dtype]);
      if (dtype === 'f32') {
        const out = SafetensorsReader.open(path.join(res.outDir, 'model.safetensors'));
        const base = SafetensorsReader.open(path.join(TINY_LLAMA, 'model.safetensors'));
        const adapter = readAdapterWeights(llamaAdapter);
        const m = adapter.modules.find((x) => x.name === 'model.layers.1.mlp.down_proj')!;
        const want = base.readFloat32('model.layers.1.mlp.down_proj.weight');
        const d = denseDelta(m, moduleScale(m, false));
        const got = out.readFloat32('model.layers.1.mlp.down_proj.weight');
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - (want[i] + d[i]))).toBeLessThan(1e-6);
        expect(Buffer.from(out.readBytes('model.embed_tokens.weight')).equals(Buffer.from(base.readBytes('model.embed_tokens.weight')))).toBe(true);
        expect(out.metadata.format).toBe('pt');
        out.close();
        base.close();
      }
    });
  }

  it("auto keeps each tensor's stored dtype (F32 here): the same file as f32", async () => {
    const res = await exportMerged(req(llamaAdapter, TINY_LLAMA, 'llama-auto', 'auto', { verify: false }), noopContext);
    expect(res.storedDtypes).toEqual({ F32: 21 });
    const f32 = fs.readFileSync(path.join(tmp, 'llama-f32', 'model.safetensors'));
    expect(Buffer.compare(fs.readFileSync(path.join(res.outDir, 'model.safetensors')), f32)).toBe(0);
  });

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(`tiny-gpt2, ${dtype}: Conv1D weights get the transposed delta`, async () => {
      const res = await exportMerged(req(gpt2Adapter, TINY_GPT2, `gpt2-${dtype}`, dtype), noopContext);
      expect(res.verification?.passed).toBe(true);
      if (dtype === 'f32') {
        const out = SafetensorsReader.open(path.join(res.outDir, 'model.safetensors'));
        const base = SafetensorsReader.open(path.join(TINY_GPT2, 'model.safetensors'));
        const m = readAdapterWeights(gpt2Adapter).modules.find((x) => x.name === 'transformer.h.0.attn.c_attn')!;
        const d = denseDelta(m, moduleScale(m, false)); // [out 6, in 2]
        const w = base.readFloat32('transformer.h.0.attn.c_attn.weight'); // stored (in 2, out 6)
        const got = out.readFloat32('transformer.h.0.attn.c_attn.weight');
        for (let i = 0; i < 2; i++) for (let o = 0; o < 6; o++) expect(got[i * 6 + o]).toBeCloseTo(w[i * 6 + o] + d[o * 2 + i], 6);
        out.close();
        base.close();
      }
    });
  }

  it('shards by a size limit, with an index transformers reads', async () => {
    const res = await exportMerged(req(llamaAdapter, TINY_LLAMA, 'llama-sharded', 'f32', { maxShardBytes: 1 << 20 }), noopContext);
    expect(res.shards).toBe(3); // lm_head (2 MB), embed_tokens (2 MB), the rest
    const index = JSON.parse(fs.readFileSync(path.join(res.outDir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(res.totalBytes);
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']));
    expect(res.verification?.passed).toBe(true);
  });

  it('writes the training chat template into the tokenizer files', async () => {
    const tpl = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}";
    const res = await exportMerged(req(llamaAdapter, TINY_LLAMA, 'llama-template', 'f32', { chatTemplate: tpl, verify: false }), noopContext);
    expect(res.chatTemplate).toBe('training');
    expect(JSON.parse(fs.readFileSync(path.join(res.outDir, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(tpl);
    expect(res.verificationNote).toMatch(/skipped on request/);
  });

  it('refuses a merge that is not finite and leaves nothing behind', async () => {
    const huge = writeTestAdapter(path.join(tmp, 'huge-adapter'), LLAMA_MODULES.slice(0, 1), { seed: 3, scale: 1e20 });
    await expect(exportMerged(req(huge, TINY_LLAMA, 'llama-inf', 'f32'), noopContext)).rejects.toThrow(/NaN or Inf.*nothing was written/);
    expect(fs.existsSync(path.join(tmp, 'llama-inf'))).toBe(false);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('partial'))).toEqual([]);
  });

  it('refuses an existing destination and an adapter for another base', async () => {
    await expect(exportMerged(req(llamaAdapter, TINY_LLAMA, 'llama-f32', 'f32'), noopContext)).rejects.toThrow(/already exists/);
    await expect(exportMerged(req(gpt2Adapter, TINY_LLAMA, 'wrong-base', 'f32'), noopContext)).rejects.toThrow(/does not fit this base model/);
  });
});
