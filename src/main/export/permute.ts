/**
 * llama.cpp's Q/K row permutation (convert_hf_to_gguf.py LlamaModel.permute). Hugging Face Llama
 * checkpoints order each head's rows for rotate-half RoPE (first half of the head's dimensions,
 * then the second half); llama.cpp rotates interleaved pairs. Per head, rows [h, i, j] with
 * i ∈ {0, 1} (half) and j < headDim/2 move to [h, j, i]:
 *
 *   weights.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)
 *
 * Q uses num_attention_heads; K uses num_key_value_heads. Works for a bias too (cols = 1).
 */
export function permuteQK(data: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  if (rows % (2 * nHead) !== 0) throw new Error(`cannot permute ${rows} rows into ${nHead} heads of pairs`);
  const half = rows / nHead / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const src = h * 2 * half + i * half + j; // [h, i, j]
        const dst = h * 2 * half + j * 2 + i; // [h, j, i]
        out.set(data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}
