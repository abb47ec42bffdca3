/**
 * Token pieces for the preview: each token's text (decoded incrementally so SentencePiece's
 * leading spaces and multi-token UTF-8 characters come out right), with its trained/masked flag.
 * A character split over several tokens shows on the token that completes it.
 */
import { IncrementalDecoder, type ModelTokenizer } from '../ml/tokenizer';

export interface Piece {
  text: string;
  trained: boolean;
  special: boolean;
}

export function tokenPieces(tokenizer: ModelTokenizer, ids: readonly number[], labelsMask: readonly number[]): Piece[] {
  const decoder = new IncrementalDecoder(tokenizer);
  const pieces = ids.map((id, i) => ({ text: decoder.push(id), trained: labelsMask[i] === 1, special: tokenizer.specialTokenIds.has(id) }));
  const rest = decoder.flush();
  if (rest && pieces.length) pieces[pieces.length - 1].text += rest;
  return pieces;
}
