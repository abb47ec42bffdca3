/**
 * The pieces of a SentencePiece `tokenizer.model` (a protobuf ModelProto): field 1 is a repeated
 * SentencePiece message { 1: piece (string), 2: score (float), 3: type (enum, default NORMAL) }.
 * Only that field is read; the trainer and normalizer specs are skipped. The type numbers are the
 * ones GGUF uses for tokenizer.ggml.token_type (NORMAL 1 … BYTE 6).
 */
import fs from 'node:fs';

export interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

export class SpmModelError extends Error {}

export function readSpmModel(file: string): SpmPiece[] {
  const b = fs.readFileSync(file);
  const fail = (why: string): never => {
    throw new SpmModelError(`${file}: not a SentencePiece model (${why})`);
  };
  let i = 0;
  const varint = (buf: Buffer, end: number): number => {
    let r = 0;
    let mul = 1;
    for (;;) {
      if (i >= end) fail('truncated varint');
      const c = buf[i++];
      r += (c & 0x7f) * mul;
      if (c < 0x80) return r;
      mul *= 128;
      if (mul > 2 ** 56) fail('varint too long');
    }
  };
  const skip = (wire: number, end: number) => {
    if (wire === 0) varint(b, end);
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const n = varint(b, end); // read before adding: `i += varint()` would add to the old i
      i += n;
    }
    else fail(`unknown wire type ${wire}`);
    if (i > end) fail('field runs past the end');
  };
  const pieces: SpmPiece[] = [];
  while (i < b.length) {
    const key = varint(b, b.length);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field !== 1 || wire !== 2) {
      skip(wire, b.length);
      continue;
    }
    const len = varint(b, b.length);
    const end = i + len;
    if (end > b.length) fail('piece runs past the end');
    const p: SpmPiece = { piece: '', score: 0, type: 1 };
    while (i < end) {
      const k = varint(b, end);
      const f = Math.floor(k / 8);
      const w = k & 7;
      if (f === 1 && w === 2) {
        const n = varint(b, end);
        p.piece = b.toString('utf8', i, i + n);
        i += n;
      } else if (f === 2 && w === 5) {
        p.score = b.readFloatLE(i);
        i += 4;
      } else if (f === 3 && w === 0) {
        p.type = varint(b, end);
      } else {
        skip(w, end);
      }
    }
    pieces.push(p);
  }
  if (pieces.length === 0) fail('no pieces');
  return pieces;
}
