/**
 * What llama.cpp's convert_hf_to_gguf.py does per architecture, for the ones LoRA Studio exports:
 * llama (Llama, Mistral: LlamaModel), qwen2 (Qwen2Model) and gpt2 (GPT2Model). For each: the
 * GGUF architecture name, the hyperparameter metadata, Hugging Face → GGUF tensor names
 * (gguf-py tensor_mapping.py), the tensor transforms (Llama's Q/K row permutation, GPT-2's Conv1D
 * transpose) and which tensors stay F32 whatever the file type (norms, biases, 1-D tensors,
 * position embeddings).
 */
import { z } from 'zod';
import { GgmlType, LlamaFileType } from '../ml/gguf/constants';
import { loadAddon } from '../ml/native/addon';
import type { GgufMetadata } from '../ml/gguf/writer';
import { permuteQK } from './permute';

export type GgufFileType = 'f32' | 'f16' | 'q8_0';

export const FILE_TYPES: Record<GgufFileType, { fileType: LlamaFileType; tensorType: GgmlType }> = {
  f32: { fileType: LlamaFileType.ALL_F32, tensorType: GgmlType.F32 },
  f16: { fileType: LlamaFileType.MOSTLY_F16, tensorType: GgmlType.F16 },
  q8_0: { fileType: LlamaFileType.MOSTLY_Q8_0, tensorType: GgmlType.Q8_0 },
};

export class GgufExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufExportError';
  }
}

export interface GgufArchitecture {
  /** general.architecture */
  arch: 'llama' | 'qwen2' | 'gpt2';
  /** Writes the `<arch>.*` hyperparameters and general.file_type, in the converter's order. */
  writeParameters(meta: GgufMetadata, fileType: LlamaFileType): void;
  /** GGUF name of a checkpoint tensor, or null to leave it out (buffers). */
  tensorName(hfName: string): string | null;
  /** The tensor as GGUF stores it (data row-major, shape in PyTorch order). */
  transform(hfName: string, data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] };
  /** Tensors the converter adds that are not in the checkpoint (Llama 3's rope_freqs). */
  extraTensors(): { name: string; shape: number[]; data: Float32Array }[];
  /** Tokenizer handling: Llama-family tries SentencePiece first; GPT-2 is BPE only. */
  tokenizerFamily: 'llama' | 'qwen2' | 'gpt2';
}

const num = z.number();
const LlamaParams = z.looseObject({
  vocab_size: num,
  hidden_size: num,
  intermediate_size: num,
  num_hidden_layers: num,
  num_attention_heads: num,
  num_key_value_heads: num.nullish(),
  head_dim: num.nullish(),
  max_position_embeddings: num.nullish(),
  rope_theta: num.nullish(),
  rms_norm_eps: num.nullish(),
  rope_scaling: z.record(z.string(), z.unknown()).nullish(),
});

const Gpt2Params = z.looseObject({
  n_embd: num,
  n_layer: num,
  n_head: num,
  n_ctx: num.nullish(),
  n_positions: num.nullish(),
  layer_norm_epsilon: num.nullish(),
});

function parse<S extends z.ZodType>(schema: S, config: Record<string, unknown>, modelType: string): z.infer<S> {
  const r = schema.safeParse(config);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new GgufExportError(`config.json (${modelType}): field "${i.path.join('.')}" ${i.message}`);
  }
  return r.data;
}

/** gguf-py TensorNameMap entries for the Llama-style decoders. */
function llamaTensorName(name: string): string | null {
  if (name.endsWith('.rotary_emb.inv_freq')) return null;
  const top: Record<string, string> = {
    'model.embed_tokens.weight': 'token_embd.weight',
    'model.norm.weight': 'output_norm.weight',
    'lm_head.weight': 'output.weight',
  };
  if (top[name]) return top[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm',
    post_attention_layernorm: 'ffn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  const g = parts[m[2]];
  return g ? `blk.${m[1]}.${g}.${m[3]}` : null;
}

function gpt2TensorName(name: string): string | null {
  const bare = name.replace(/^transformer\./, '');
  if (/\.attn\.(masked_)?bias$/.test(bare)) return null;
  const top: Record<string, string> = {
    'wte.weight': 'token_embd.weight',
    'wpe.weight': 'position_embd.weight',
    'ln_f.weight': 'output_norm.weight',
    'ln_f.bias': 'output_norm.bias',
    'lm_head.weight': 'output.weight',
  };
  if (top[bare]) return top[bare];
  const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(bare);
  if (!m) return null;
  const parts: Record<string, string> = {
    ln_1: 'attn_norm',
    'attn.c_attn': 'attn_qkv',
    'attn.c_proj': 'attn_output',
    ln_2: 'ffn_norm',
    'mlp.c_fc': 'ffn_up',
    'mlp.c_proj': 'ffn_down',
  };
  const g = parts[m[2]];
  return g ? `blk.${m[1]}.${g}.${m[3]}` : null;
}

/** Llama 3 rope scaling as rope_freqs (LlamaModel.generate_extra_tensors). */
function llama3RopeFactors(c: z.infer<typeof LlamaParams>): Float32Array | null {
  const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
  const type = String(rs?.rope_type ?? rs?.type ?? '').toLowerCase();
  if (!rs || type !== 'llama3') return null;
  const base = c.rope_theta ?? 10000;
  const dim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const factor = Number(rs.factor ?? 8);
  const low = Number(rs.low_freq_factor ?? 1);
  const high = Number(rs.high_freq_factor ?? 4);
  const oldCtx = Number(rs.original_max_position_embeddings ?? 8192);
  const lowWavelen = oldCtx / low;
  const highWavelen = oldCtx / high;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = (oldCtx / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

export function ggufArchitecture(modelType: string, config: Record<string, unknown>): GgufArchitecture {
  if (modelType === 'llama' || modelType === 'mistral' || modelType === 'qwen2') {
    const c = parse(LlamaParams, config, modelType);
    const isLlama = modelType !== 'qwen2';
    const arch = isLlama ? 'llama' : 'qwen2';
    const nHead = c.num_attention_heads;
    const nKv = c.num_key_value_heads ?? nHead;
    const ropeFactors = isLlama ? llama3RopeFactors(c) : null;
    const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
    const scalingType = String(rs?.rope_type ?? rs?.type ?? '');
    return {
      arch,
      tokenizerFamily: isLlama ? 'llama' : 'qwen2',
      writeParameters(meta, fileType) {
        // TextModel.set_gguf_parameters, in its order
        meta.uint32(`${arch}.block_count`, c.num_hidden_layers);
        if (c.max_position_embeddings != null) meta.uint32(`${arch}.context_length`, c.max_position_embeddings);
        meta.uint32(`${arch}.embedding_length`, c.hidden_size);
        meta.uint32(`${arch}.feed_forward_length`, c.intermediate_size);
        meta.uint32(`${arch}.attention.head_count`, nHead);
        if (c.num_key_value_heads != null) meta.uint32(`${arch}.attention.head_count_kv`, c.num_key_value_heads);
        if (c.rope_theta != null) meta.float32(`${arch}.rope.freq_base`, c.rope_theta);
        if (c.rms_norm_eps != null) meta.float32(`${arch}.attention.layer_norm_rms_epsilon`, c.rms_norm_eps);
        if (c.head_dim != null) {
          meta.uint32(`${arch}.attention.key_length`, c.head_dim);
          meta.uint32(`${arch}.attention.value_length`, c.head_dim);
        }
        meta.uint32('general.file_type', fileType);
        if (isLlama) {
          // LlamaModel.set_gguf_parameters
          meta.uint32(`${arch}.vocab_size`, c.vocab_size);
          meta.uint32(`${arch}.rope.dimension_count`, c.head_dim ?? c.hidden_size / nHead);
        }
        if (rs && (scalingType === 'linear' || scalingType === 'yarn') && rs.factor != null) {
          meta.string(`${arch}.rope.scaling.type`, scalingType);
          meta.float32(`${arch}.rope.scaling.factor`, Number(rs.factor));
          if (scalingType === 'yarn' && rs.original_max_position_embeddings != null) {
            meta.uint32(`${arch}.rope.scaling.original_context_length`, Number(rs.original_max_position_embeddings));
          }
        }
      },
      tensorName: llamaTensorName,
      transform(name, data, shape) {
        if (!isLlama) return { data, shape };
        const rows = shape[0];
        const cols = shape.length > 1 ? shape[1] : 1;
        if (/\.self_attn\.q_proj\.(weight|bias)$/.test(name)) return { data: permuteQK(data, rows, cols, nHead), shape };
        if (/\.self_attn\.k_proj\.(weight|bias)$/.test(name)) return { data: permuteQK(data, rows, cols, nKv), shape };
        return { data, shape };
      },
      extraTensors: () => (ropeFactors ? [{ name: 'rope_freqs.weight', shape: [ropeFactors.length], data: ropeFactors }] : []),
    };
  }
  if (modelType === 'gpt2') {
    const c = parse(Gpt2Params, config, modelType);
    return {
      arch: 'gpt2',
      tokenizerFamily: 'gpt2',
      writeParameters(meta, fileType) {
        // GPT2Model.set_gguf_parameters
        meta.uint32('gpt2.block_count', c.n_layer);
        meta.uint32('gpt2.context_length', c.n_ctx ?? c.n_positions ?? 1024);
        meta.uint32('gpt2.embedding_length', c.n_embd);
        meta.uint32('gpt2.feed_forward_length', 4 * c.n_embd);
        meta.uint32('gpt2.attention.head_count', c.n_head);
        meta.float32('gpt2.attention.layer_norm_epsilon', c.layer_norm_epsilon ?? 1e-5);
        meta.uint32('general.file_type', fileType);
      },
      tensorName: gpt2TensorName,
      transform(name, data, shape) {
        // Conv1D stores (in, out); GGUF wants nn.Linear's (out, in).
        if (shape.length === 2 && /\.(c_attn|c_proj|c_fc)\.weight$/.test(name)) return { data: transpose(data, shape[0], shape[1]), shape: [shape[1], shape[0]] };
        return { data, shape };
      },
      extraTensors: () => [],
    };
  }
  throw new GgufExportError(`GGUF export supports llama, mistral, qwen2 and gpt2 models; this one is "${modelType}"`);
}

/** [rows, cols] → [cols, rows]: on the native addon where it is built, else transposeTiles. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const native = loadAddon();
  if (!native.ok) return transposeTiles(data, rows, cols);
  const out = new Float32Array(data.length);
  native.addon.transpose(data, [rows, cols], [1, 0], out);
  return out;
}

/** The JS transpose, in 64×64 tiles (a row-by-row one misses the cache on every store). */
export function transposeTiles(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  const T = 64;
  for (let i0 = 0; i0 < rows; i0 += T) {
    for (let j0 = 0; j0 < cols; j0 += T) {
      const iEnd = Math.min(i0 + T, rows);
      const jEnd = Math.min(j0 + T, cols);
      for (let i = i0; i < iEnd; i++) for (let j = j0; j < jEnd; j++) out[j * rows + i] = data[i * cols + j];
    }
  }
  return out;
}

/**
 * The stored type of a tensor (prepare_tensors): 1-D tensors, norms, biases and position
 * embeddings stay F32; the rest take the file type, and Q8_0 falls back to F16 when a row is not
 * a multiple of 32 (gguf-py's QuantError fallback).
 */
export function tensorTypeFor(ggufName: string, shape: number[], want: GgmlType): { type: GgmlType; fellBack: boolean } {
  if (shape.length <= 1 || ggufName.endsWith('_norm.weight') || !ggufName.endsWith('.weight') || ggufName === 'position_embd.weight') return { type: GgmlType.F32, fellBack: false };
  if (want === GgmlType.Q8_0 && shape[shape.length - 1] % 32 !== 0) return { type: GgmlType.F16, fellBack: true };
  return { type: want, fellBack: false };
}
