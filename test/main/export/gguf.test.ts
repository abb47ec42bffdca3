import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gguf as hfGguf } from '@huggingface/gguf';
import { moduleScale, readAdapterWeights } from '../../../src/main/adapters/peft-files';
import { GgmlType, GgufValueType, TokenType } from '../../../src/main/ml/gguf/constants';
import { dequantizeQ8_0, quantizeQ8_0 } from '../../../src/main/ml/gguf/quant';
import { GgufReader } from '../../../src/main/ml/gguf/reader';
import { GgufMetadata } from '../../../src/main/ml/gguf/writer';
import { SafetensorsReader } from '../../../src/main/ml/safetensors';
import { exportGguf } from '../../../src/main/export/gguf';
import { bpePreTokenizerHash, KNOWN_PRE, writeGgufVocab } from '../../../src/main/export/gguf-vocab';
import { noopContext } from '../../../src/main/export/job';
import { permuteQK } from '../../../src/main/export/permute';
import { transpose, transposeTiles } from '../../../src/main/export/gguf-arch';
import { readSpmModel } from '../../../src/main/export/spm-model';
import { FIXTURES, TINY_GPT2, TINY_LLAMA, adapterDir } from '../adapters/fixtures';
import { denseDelta } from '../adapters/helpers';
import { GPT2_MODULES, LLAMA_MODULES, writeTestAdapter } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-export-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const llamaAdapter = writeTestAdapter(path.join(tmp, 'llama-adapter'), LLAMA_MODULES, { seed: 1, scale: 0.6 });
const gpt2Adapter = writeTestAdapter(path.join(tmp, 'gpt2-adapter'), GPT2_MODULES, { seed: 2, scale: 0.8, fanInFanOut: true });
const CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('GPT-2 Conv1D transpose', () => {
  it('native and tiled JS transposes agree with the definition on shapes that are not multiples of a tile', () => {
    for (const [rows, cols] of [[1, 1], [3, 200], [65, 130], [128, 64]]) {
      const x = Float32Array.from({ length: rows * cols }, (_, k) => k);
      const want = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) want[j * rows + i] = x[i * cols + j];
      expect(Array.from(transposeTiles(x, rows, cols))).toEqual(Array.from(want));
      expect(Array.from(transpose(x, rows, cols))).toEqual(Array.from(want));
    }
  });
});

describe('Q/K permutation', () => {
  it('matches a hand-computed case: 2 heads of 4 rows, rows [h, i, j] → [h, j, i]', () => {
    // rows labelled by their index, 2 columns each
    const w = Float32Array.from({ length: 16 }, (_, k) => Math.floor(k / 2) * 10 + (k % 2));
    const out = permuteQK(w, 8, 2, 2);
    const rows = Array.from({ length: 8 }, (_, r) => out[r * 2] / 10);
    // head 0 rows 0..3 = (i=0,j=0) (i=0,j=1) (i=1,j=0) (i=1,j=1) → (j=0,i=0) (j=0,i=1) (j=1,i=0) (j=1,i=1)
    expect(rows).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(Array.from(out.subarray(2, 4))).toEqual([20, 21]); // columns move with their row
  });

  it('uses the KV head count for K (grouped-query attention) and works on a bias', () => {
    const bias = Float32Array.from({ length: 8 }, (_, i) => i);
    expect(Array.from(permuteQK(bias, 8, 1, 1))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]); // one KV head of 8
    expect(Array.from(permuteQK(bias, 8, 1, 4))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // 4 heads of 2: nothing moves
  });
});

describe('GGUF export of tiny-random-llama', () => {
  const files: Record<string, string> = {};

  for (const type of ['f32', 'f16', 'q8_0'] as const) {
    it(`${type}: re-reads with the right metadata, shapes and data`, async () => {
      const outFile = path.join(tmp, `llama-${type}`, 'model.gguf');
      const res = await exportGguf({ adapterDir: llamaAdapter, baseDir: TINY_LLAMA, outFile, type, modelfile: type === 'q8_0', chatTemplate: CHATML, name: 'tiny-llama-test' }, noopContext);
      files[type] = outFile;
      expect(res.validation.tensorsChecked).toBe(21);
      const r = GgufReader.open(outFile);
      try {
        const m = (k: string) => r.get(k);
        expect([m('general.architecture'), m('general.name'), m('general.file_type'), m('general.quantization_version')]).toEqual(['llama', 'tiny-llama-test', { f32: 0, f16: 1, q8_0: 7 }[type], 2]);
        expect([m('llama.block_count'), m('llama.context_length'), m('llama.embedding_length'), m('llama.feed_forward_length')]).toEqual([2, 2048, 16, 64]);
        expect([m('llama.attention.head_count'), m('llama.attention.head_count_kv'), m('llama.rope.dimension_count'), m('llama.vocab_size')]).toEqual([4, 4, 4, 32000]);
        expect(m('llama.rope.freq_base')).toBe(10000);
        expect(m('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-6, 12);
        expect([m('tokenizer.ggml.model'), m('tokenizer.ggml.pre')]).toEqual(['llama', 'default']);
        expect((m('tokenizer.ggml.tokens') as string[]).slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
        expect((m('tokenizer.ggml.token_type') as number[]).slice(0, 4)).toEqual([TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE]);
        expect((m('tokenizer.ggml.scores') as number[]).length).toBe(32000);
        expect(r.metadata.get('tokenizer.ggml.token_type')?.itemType).toBe(GgufValueType.INT32);
        expect([m('tokenizer.ggml.bos_token_id'), m('tokenizer.ggml.eos_token_id'), m('tokenizer.ggml.unknown_token_id'), m('tokenizer.ggml.padding_token_id')]).toEqual([1, 2, 0, 0]);
        expect([m('tokenizer.ggml.add_bos_token'), m('tokenizer.ggml.add_eos_token')]).toEqual([true, false]);
        expect(m('tokenizer.chat_template')).toBe(CHATML);

        const names = r.tensors.map((t) => t.name);
        expect(names.slice(0, 2)).toEqual(['lm_head.weight', 'model.embed_tokens.weight'].map((n) => ({ 'lm_head.weight': 'output.weight', 'model.embed_tokens.weight': 'token_embd.weight' })[n]));
        expect(names).toContain('blk.1.attn_q.weight');
        expect(names).toContain('blk.0.ffn_gate.weight');
        expect(names).toContain('output_norm.weight');
        expect(r.tensor('token_embd.weight').shape).toEqual([32000, 16]);
        expect(r.tensor('blk.0.ffn_down.weight').shape).toEqual([16, 64]);
        expect(r.tensor('blk.0.attn_norm.weight').type).toBe(GgmlType.F32);
        const want = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0 }[type];
        expect(r.tensor('blk.0.ffn_down.weight').type).toBe(want);
        // rows of 16 cannot be Q8_0 blocks: the converter falls back to F16
        expect(r.tensor('blk.0.attn_q.weight').type).toBe(type === 'q8_0' ? GgmlType.F16 : want);
        if (type === 'q8_0') expect(res.q8Fallbacks).toContain('token_embd.weight');

        // data: merged, then Q permuted
        const base = SafetensorsReader.open(path.join(TINY_LLAMA, 'model.safetensors'));
        const ad = readAdapterWeights(llamaAdapter);
        const merged = (hf: string, module: string) => {
          const w = base.readFloat32(hf);
          const mod = ad.modules.find((x) => x.name === module)!;
          const d = denseDelta(mod, moduleScale(mod, false));
          return Float32Array.from(w, (v, i) => v + d[i]);
        };
        const q = permuteQK(merged('model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.q_proj'), 16, 16, 4);
        const gotQ = r.readFloat32('blk.0.attn_q.weight');
        const down = merged('model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.down_proj');
        const gotDown = r.readFloat32('blk.0.ffn_down.weight');
        const tol = { f32: 1e-6, f16: 2e-3, q8_0: 2e-2 }[type];
        for (let i = 0; i < q.length; i++) expect(Math.abs(gotQ[i] - q[i])).toBeLessThan(tol * Math.max(1, Math.abs(q[i])));
        if (type === 'q8_0') expect(Array.from(gotDown)).toEqual(Array.from(dequantizeQ8_0(quantizeQ8_0(down), down.length)));
        else for (let i = 0; i < down.length; i++) expect(Math.abs(gotDown[i] - down[i])).toBeLessThan(tol * Math.max(1, Math.abs(down[i])));
        // v_proj is not permuted
        const v = merged('model.layers.1.self_attn.v_proj.weight', 'model.layers.1.self_attn.v_proj');
        const gotV = r.readFloat32('blk.1.attn_v.weight');
        for (let i = 0; i < v.length; i++) expect(Math.abs(gotV[i] - v[i])).toBeLessThan(tol * Math.max(1, Math.abs(v[i])));
        base.close();
      } finally {
        r.close();
      }
      if (type === 'q8_0') {
        const mf = fs.readFileSync(path.join(tmp, 'llama-q8_0', 'Modelfile'), 'utf8');
        expect(mf.startsWith('FROM ./model.gguf\nTEMPLATE """{{ range .Messages }}')).toBe(true);
        expect(mf).toContain('PARAMETER stop "<|im_end|>"');
        expect(res.modelfile?.translated).toBe(true);
      }
    });
  }

  it('@huggingface/gguf reads the same file independently', async () => {
    const ref = await hfGguf(files.q8_0, { allowLocalFile: true });
    const md = ref.metadata as unknown as Record<string, unknown>;
    expect(md['general.architecture']).toBe('llama');
    expect(md['llama.block_count']).toBe(2);
    expect(md['llama.attention.head_count']).toBe(4);
    expect(md['tokenizer.ggml.model']).toBe('llama');
    expect((md['tokenizer.ggml.tokens'] as string[]).length).toBe(32000);
    expect(md['tokenizer.chat_template']).toBe(CHATML);
    const ours = GgufReader.open(files.q8_0);
    expect(ref.tensorInfos.map((t) => [t.name, t.shape.map(Number).reverse(), t.dtype])).toEqual(ours.tensors.map((t) => [t.name, t.shape, t.type]));
    ours.close();
  });

  it('leaves nothing when the destination or its Modelfile exists', async () => {
    await expect(exportGguf({ adapterDir: llamaAdapter, baseDir: TINY_LLAMA, outFile: files.f32, type: 'f32', modelfile: false, chatTemplate: null, name: 'x' }, noopContext)).rejects.toThrow(/already exists/);
    const other = path.join(tmp, 'llama-q8_0', 'other.gguf');
    await expect(exportGguf({ adapterDir: llamaAdapter, baseDir: TINY_LLAMA, outFile: other, type: 'f32', modelfile: true, chatTemplate: null, name: 'x' }, noopContext)).rejects.toThrow(/Modelfile already exists/);
    expect(fs.existsSync(other)).toBe(false);
  });

  it('refuses an F16 file whose merged weights exceed float16 (they would be Inf), naming the tensor, and leaves nothing', async () => {
    const big = writeTestAdapter(path.join(tmp, 'big-adapter'), LLAMA_MODULES.slice(0, 1), { seed: 9, scale: 600 });
    const out = path.join(tmp, 'big', 'model.gguf');
    await expect(exportGguf({ adapterDir: big, baseDir: TINY_LLAMA, outFile: out, type: 'f16', modelfile: false, chatTemplate: null, name: 'x' }, noopContext)).rejects.toThrow(
      /blk\.0\.attn_q\.weight: value -?[0-9.e+]+ \(element \d+\) does not fit float16 \(max 65504\); export as f32 or q8_0/,
    );
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)) : []).toEqual([]);
  });
});

describe('GGUF export with the base model\'s own template', () => {
  it('translates the whole template for the Modelfile, not the shortened one the re-read summary shows', async () => {
    // a base whose tokenizer_config.json holds a ChatML template longer than the summary's 200 chars
    const base = path.join(tmp, 'llama-own-template');
    fs.mkdirSync(base);
    for (const f of fs.readdirSync(TINY_LLAMA)) if (fs.statSync(path.join(TINY_LLAMA, f)).isFile()) fs.copyFileSync(path.join(TINY_LLAMA, f), path.join(base, f));
    const long = `{#- ChatML, as many instruct models ship it; ${'padding '.repeat(40)} -#}` + CHATML;
    const cfg = JSON.parse(fs.readFileSync(path.join(base, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(base, 'tokenizer_config.json'), JSON.stringify({ ...cfg, chat_template: long }));
    const outFile = path.join(tmp, 'own-template', 'model.gguf');
    const res = await exportGguf({ adapterDir: llamaAdapter, baseDir: base, outFile, type: 'f16', modelfile: true, chatTemplate: null, name: 'own' }, noopContext);
    expect(res.modelfile?.translated).toBe(true);
    const mf = fs.readFileSync(path.join(tmp, 'own-template', 'Modelfile'), 'utf8');
    expect(mf).toContain('TEMPLATE """{{ range .Messages }}');
    const r = GgufReader.open(outFile);
    try {
      expect(r.get('tokenizer.chat_template')).toBe(long);
    } finally {
      r.close();
    }
  });
});

describe('GGUF export of tiny-gpt2', () => {
  it('writes the gpt2 architecture: fused QKV transposed to (out, in), BPE vocab with merges and pre "gpt-2"', async () => {
    const outFile = path.join(tmp, 'gpt2', 'model.gguf');
    const res = await exportGguf({ adapterDir: gpt2Adapter, baseDir: TINY_GPT2, outFile, type: 'f32', modelfile: false, chatTemplate: null, name: 'gpt2' }, noopContext);
    const r = GgufReader.open(outFile);
    try {
      expect([r.get('general.architecture'), r.get('gpt2.block_count'), r.get('gpt2.context_length'), r.get('gpt2.embedding_length'), r.get('gpt2.feed_forward_length'), r.get('gpt2.attention.head_count')]).toEqual(['gpt2', 2, 1024, 2, 8, 2]);
      expect([r.get('tokenizer.ggml.model'), r.get('tokenizer.ggml.pre')]).toEqual(['gpt2', 'gpt-2']);
      expect((r.get('tokenizer.ggml.merges') as string[]).length).toBe(50000);
      expect((r.get('tokenizer.ggml.tokens') as string[]).length).toBe(50257);
      expect([r.get('tokenizer.ggml.bos_token_id'), r.get('tokenizer.ggml.eos_token_id'), r.get('tokenizer.ggml.add_bos_token')]).toEqual([50256, 50256, false]);
      expect(r.tensors.map((t) => t.name)).toEqual(expect.arrayContaining(['token_embd.weight', 'position_embd.weight', 'blk.0.attn_qkv.weight', 'blk.0.attn_qkv.bias', 'blk.1.ffn_down.weight', 'output_norm.bias']));
      expect(r.tensor('blk.0.attn_qkv.weight').shape).toEqual([6, 2]);
      const base = SafetensorsReader.open(path.join(TINY_GPT2, 'model.safetensors'));
      const w = base.readFloat32('transformer.h.0.attn.c_attn.weight'); // (in 2, out 6)
      const m = readAdapterWeights(gpt2Adapter).modules.find((x) => x.name === 'transformer.h.0.attn.c_attn')!;
      const d = denseDelta(m, moduleScale(m, false)); // [6, 2]
      const got = r.readFloat32('blk.0.attn_qkv.weight'); // [6, 2]
      for (let o = 0; o < 6; o++) for (let i = 0; i < 2; i++) expect(got[o * 2 + i]).toBeCloseTo(w[i * 6 + o] + d[o * 2 + i], 5);
      base.close();
    } finally {
      r.close();
    }
    expect(res.vocab.pre).toBe('gpt-2');
  });
});

describe('tokenizer metadata', () => {
  it('finds the BPE pre-tokenizer from the token ids of the probe text, as convert_hf_to_gguf.py does', () => {
    expect(KNOWN_PRE[bpePreTokenizerHash(TINY_GPT2)]).toBe('gpt-2');
    expect(KNOWN_PRE[bpePreTokenizerHash(adapterDir('smollm2-360m-instruct-q_v-r8'))]).toBe('smollm');
  });

  it('reads SentencePiece scores and types from tokenizer.model; without it, merge ranks order tokens the same way', () => {
    const spmDir = path.join(FIXTURES, 'tokenizers/llama2-spm');
    const pieces = readSpmModel(path.join(spmDir, 'tokenizer.model'));
    expect(pieces.length).toBe(32000);
    expect(pieces.slice(0, 4).map((p) => [p.piece, p.type])).toEqual([['<unk>', 2], ['<s>', 3], ['</s>', 3], ['<0x00>', 6]]);
    const cfg = { vocab_size: 32000 };
    const spm = new GgufMetadata();
    writeGgufVocab(spm, { modelDir: spmDir, config: cfg, family: 'llama', chatTemplate: null });
    const spmScores = spm.entries.get('tokenizer.ggml.scores')!.value as number[];
    expect(spmScores.slice(259, 262)).toEqual([-1e9, -1, -2]);

    const hf = new GgufMetadata();
    const summary = writeGgufVocab(hf, { modelDir: TINY_LLAMA, config: cfg, family: 'llama', chatTemplate: null });
    expect(summary.notes.join()).toMatch(/merge ranks/);
    const hfTokens = hf.entries.get('tokenizer.ggml.tokens')!.value as string[];
    const spmTokens = spm.entries.get('tokenizer.ggml.tokens')!.value as string[];
    // the two files disagree on one piece (31353: " " in tokenizer.model, "" in tokenizer.json)
    expect(spmTokens.filter((t, i) => t !== hfTokens[i]).length).toBeLessThanOrEqual(1);
    const hfScores = hf.entries.get('tokenizer.ggml.scores')!.value as number[];
    const types = spm.entries.get('tokenizer.ggml.token_type')!.value as number[];
    // Over merged tokens, count pairs whose order disagrees between the two score lists.
    const merged = [...types.keys()].filter((i) => types[i] === TokenType.NORMAL && hfScores[i] !== -1000 && spmScores[i] > -1e8);
    let agree = 0;
    for (let k = 1; k < merged.length; k++) {
      const [a, b] = [merged[k - 1], merged[k]];
      if (Math.sign(spmScores[a] - spmScores[b]) === Math.sign(hfScores[a] - hfScores[b])) agree++;
    }
    expect(merged.length).toBeGreaterThan(29000);
    expect(agree / (merged.length - 1)).toBeGreaterThan(0.999);
  });
});
