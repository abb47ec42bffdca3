/**
 * Recognising a record that is already in stored form from its UTF-8 bytes alone, without
 * decoding or JSON.parse: `{"messages": [{"role": ..., "content": ...}, ...]}` (OpenAI chat, the
 * format most big chat datasets come in) and `{"text": ...}`. Such a line is stored as written, so
 * parsing it would only have told that it is valid; this check tells the same for a fraction of
 * the cost.
 *
 * The check is conservative: true only where JSON.parse would succeed and isStoredForm (shapes.ts)
 * would accept the value. Anything it is unsure of (an escaped key or role, a duplicate key, a
 * weight written other than 0 or 1, an assistant turn that might be blank) gets false, and the
 * line takes the ordinary path, which parses it and gives the reason when it is bad. The bytes must
 * be valid UTF-8 (the readers check that first).
 */
import type { ShapeChoice } from './shapes';

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const bytesOf = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const K_MESSAGES = bytesOf('messages');
const K_ROLE = bytesOf('role');
const K_CONTENT = bytesOf('content');
const K_WEIGHT = bytesOf('weight');
const K_TEXT = bytesOf('text');
/** The stored roles, in the order of the codes below. */
const ROLES = ['system', 'user', 'assistant', 'tool'].map(bytesOf);
const SYSTEM = 0;
const USER = 1;
const ASSISTANT = 2;

/** JSON's whitespace: the only characters allowed between tokens. */
function skipSpace(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === SPACE || c === TAB || c === CR || c === LF) i++;
    else return i;
  }
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Set by scanString: whether the string holds a character that is surely not whitespace (String.prototype.trim's). */
let notBlank = false;

/**
 * Scan the JSON string whose opening quote is at `i`; the index after its closing quote, or -1
 * when it is not a valid JSON string (a raw control character, a bad escape, no closing quote).
 */
function scanString(b: Uint8Array, i: number): number {
  let seen = false;
  i++;
  for (;;) {
    const c = b[i];
    if (c === undefined) return -1;
    if (c === QUOTE) {
      notBlank = seen;
      return i + 1;
    }
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) {
        // \uXXXX: may be anything, whitespace included; it counts as nothing either way.
        if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
        i += 6;
        continue;
      }
      // \" \\ \/ \b are not whitespace; \f \n \r \t are.
      if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62) seen = true;
      else if (e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return -1;
      i += 2;
      continue;
    }
    if (c < SPACE) return -1;
    // Printable ASCII; or the lead byte of a character other than those whose lead byte they
    // share with a Unicode space (C2: U+00A0, E1: U+1680, E2: U+2000–U+205F, E3: U+3000, EF: U+FEFF).
    if (c !== SPACE && (c < 0x80 || (c >= 0xc3 && c !== 0xe1 && c !== 0xe2 && c !== 0xe3 && c !== 0xef))) seen = true;
    i++;
  }
}

/** Whether b[start..end) is exactly `word`. */
function equals(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[start + k] !== word[k]) return false;
  return true;
}

/** `{"messages": [...]}` in stored form, the roles in an order every template accepts (shapes.ts checkConversation). */
export function isStoredMessagesBytes(b: Uint8Array): boolean {
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_OBJECT) return false;
  i = skipSpace(b, i + 1);
  if (b[i] !== QUOTE) return false;
  let j = scanString(b, i);
  if (j < 0 || !equals(b, i + 1, j - 1, K_MESSAGES)) return false;
  i = skipSpace(b, j);
  if (b[i] !== COLON) return false;
  i = skipSpace(b, i + 1);
  if (b[i] !== OPEN_ARRAY) return false;
  i = skipSpace(b, i + 1);
  let index = 0;
  let seenUser = false;
  let trained = 0;
  for (;;) {
    // One message: {"role": R, "content": C[, "weight": 0|1]} in any order, each key once.
    if (b[i] !== OPEN_OBJECT) return false;
    i = skipSpace(b, i + 1);
    let role = -1;
    let hasContent = false;
    let contentNotBlank = false;
    let weight = -1;
    for (;;) {
      if (b[i] !== QUOTE) return false;
      j = scanString(b, i);
      if (j < 0) return false;
      const keyStart = i + 1;
      const keyEnd = j - 1;
      i = skipSpace(b, j);
      if (b[i] !== COLON) return false;
      i = skipSpace(b, i + 1);
      if (equals(b, keyStart, keyEnd, K_ROLE)) {
        if (role >= 0 || b[i] !== QUOTE) return false;
        j = scanString(b, i);
        if (j < 0) return false;
        for (let r = 0; r < ROLES.length && role < 0; r++) if (equals(b, i + 1, j - 1, ROLES[r])) role = r;
        if (role < 0) return false;
        i = j;
      } else if (equals(b, keyStart, keyEnd, K_CONTENT)) {
        if (hasContent || b[i] !== QUOTE) return false;
        j = scanString(b, i);
        if (j < 0) return false;
        hasContent = true;
        contentNotBlank = notBlank;
        i = j;
      } else if (equals(b, keyStart, keyEnd, K_WEIGHT)) {
        const c = b[i];
        if (weight >= 0 || (c !== 0x30 && c !== 0x31)) return false;
        weight = c - 0x30;
        i++;
        // The number ends here ("01", "1.0", "1e0" are not written as the 0 or 1 stored).
        const n = b[i];
        if (n !== COMMA && n !== CLOSE_OBJECT && n !== SPACE && n !== TAB && n !== CR && n !== LF) return false;
      } else {
        return false;
      }
      i = skipSpace(b, i);
      if (b[i] === COMMA) {
        i = skipSpace(b, i + 1);
        continue;
      }
      if (b[i] !== CLOSE_OBJECT) return false;
      break;
    }
    if (role < 0 || !hasContent) return false;
    if (role === SYSTEM && index > 0) return false;
    if (role === USER) seenUser = true;
    if (role === ASSISTANT) {
      if (!seenUser || !contentNotBlank) return false;
      if (weight !== 0) trained++;
    }
    index++;
    i = skipSpace(b, i + 1);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE_ARRAY) return false;
    break;
  }
  if (trained === 0) return false;
  i = skipSpace(b, i + 1);
  if (b[i] !== CLOSE_OBJECT) return false;
  return skipSpace(b, i + 1) === b.length;
}

/** `{"text": "..."}` with some text that is not whitespace. */
export function isStoredTextBytes(b: Uint8Array): boolean {
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_OBJECT) return false;
  i = skipSpace(b, i + 1);
  if (b[i] !== QUOTE) return false;
  let j = scanString(b, i);
  if (j < 0 || !equals(b, i + 1, j - 1, K_TEXT)) return false;
  i = skipSpace(b, j);
  if (b[i] !== COLON) return false;
  i = skipSpace(b, i + 1);
  if (b[i] !== QUOTE) return false;
  j = scanString(b, i);
  if (j < 0 || !notBlank) return false;
  i = skipSpace(b, j);
  if (b[i] !== CLOSE_OBJECT) return false;
  return skipSpace(b, i + 1) === b.length;
}

/** The byte check for records of this shape and mapping, where their stored form is what the file holds. */
export function storedBytesCheck({ shape, mapping }: ShapeChoice): ((b: Uint8Array) => boolean) | undefined {
  if (shape === 'messages' && mapping.messages === 'messages' && mapping.role === 'role' && mapping.content === 'content') return isStoredMessagesBytes;
  if (shape === 'text' && mapping.text === 'text') return isStoredTextBytes;
  return undefined;
}
