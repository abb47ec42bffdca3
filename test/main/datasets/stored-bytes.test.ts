/**
 * The byte-level stored-form check against the definition it shortcuts: JSON.parse, then
 * isStoredForm. It may say false where those say true (the line then takes the parsing path), but
 * never true where they say false.
 */
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { isStoredForm, type ShapeChoice } from '../../../src/main/datasets/shapes';
import { isStoredMessagesBytes, isStoredTextBytes, storedBytesCheck } from '../../../src/main/datasets/stored-bytes';

const MESSAGES: ShapeChoice = { shape: 'messages', mapping: { messages: 'messages', role: 'role', content: 'content' } };
const TEXT: ShapeChoice = { shape: 'text', mapping: { text: 'text' } };

/** What parsing would decide: the line is valid JSON and its value is in stored form. */
function reference(line: string, choice: ShapeChoice): boolean {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return false;
  }
  return isStoredForm(value, choice);
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

const chat = (...turns: [string, string][]) => JSON.stringify({ messages: turns.map(([role, content]) => ({ role, content })) });

describe('stored-form bytes', () => {
  it('accepts the usual chat and text lines, as written, spaced or not', () => {
    const yes = [
      chat(['user', 'Hi'], ['assistant', 'Hello!']),
      chat(['system', 'Be brief.'], ['user', 'Привет, 世界 🌍'], ['assistant', 'Здравствуйте 👋'], ['user', 'again'], ['assistant', '数据']),
      chat(['user', 'tab\tnew\nline "quoted" back\\slash'], ['assistant', 'a\u0001b']),
      '{ "messages" : [ { "role" : "user" , "content" : "x" } , { "content" : "y" , "role" : "assistant" , "weight" : 1 } ] }\t',
      '{"messages":[{"role":"user","content":""},{"role":"assistant","content":"ok","weight":1},{"role":"user","content":"more"},{"role":"assistant","content":"no","weight":0}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"{}"},{"role":"assistant","content":"\\/"}]}',
    ];
    for (const line of yes) {
      expect(reference(line, MESSAGES), line).toBe(true);
      expect(isStoredMessagesBytes(bytes(line)), line).toBe(true);
    }
    for (const line of ['{"text":"hello"}', ' {"text": "  é  "} ', '{"text":"\\"quoted\\""}']) {
      expect(reference(line, TEXT), line).toBe(true);
      expect(isStoredTextBytes(bytes(line)), line).toBe(true);
    }
  });

  it('refuses every line that parsing would refuse or rewrite', () => {
    const no = [
      '',
      '{}',
      '{"messages":[]}',
      chat(['assistant', 'first']),
      chat(['user', 'q'], ['system', 'late system'], ['assistant', 'a']),
      chat(['user', 'q']),
      chat(['user', 'q'], ['assistant', '   ']),
      chat(['user', 'q'], ['human', 'x'], ['assistant', 'a']),
      chat(['User', 'q'], ['assistant', 'a']),
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":0}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":2}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":null}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","name":"bot"}]}',
      '{"messages":[{"role":"user","content":["q"]},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":null},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"id":1}',
      '{"id":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]} x',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},]}',
      '{"messages":[{"role":"user","content":"q",},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a\\x"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a\\u12"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a\tb"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a}]}',
      '{"messages":{"role":"user","content":"q"}}',
      '{"text":"x"}',
      '[{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}]',
    ];
    for (const line of no) {
      expect(isStoredMessagesBytes(bytes(line)), line).toBe(false);
      if (reference(line, MESSAGES)) throw new Error(`reference accepts ${line}`); // the case list itself is right
    }
    for (const line of ['{"text":""}', '{"text":" \\n "}', '{"text":1}', '{"text":"a","id":1}', '{"txt":"a"}', '{"text":"a"']) {
      expect(isStoredTextBytes(bytes(line)), line).toBe(false);
      expect(reference(line, TEXT), line).toBe(false);
    }
  });

  it('leaves the doubtful cases to parsing (false), never the other way round', () => {
    // Valid stored form the byte check cannot vouch for: escaped keys or roles, blank-looking
    // assistant text made only of escapes or of characters that share a lead byte with a space.
    const doubtful = [
      '{"messages":[{"role":"us\\u0065r","content":"q"},{"role":"assistant","content":"a"}]}',
      '{"\\u006dessages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"\\u0041"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"\u2014"}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":1.0}]}',
      '{"messages":[{"role":"user","content":"q"},{"role":"user","role":"assistant","content":"a"}]}',
    ];
    for (const line of doubtful) {
      expect(reference(line, MESSAGES), line).toBe(true);
      expect(isStoredMessagesBytes(bytes(line)), line).toBe(false);
    }
    // Blank to trim() though not to a byte test: no-break and ideographic spaces, BOM.
    for (const blank of ['\u00a0', '\u3000', '\ufeff', '\u2028', ' \u2009 ']) {
      const line = chat(['user', 'q'], ['assistant', blank]);
      expect(reference(line, MESSAGES)).toBe(false);
      expect(isStoredMessagesBytes(bytes(line))).toBe(false);
    }
  });

  it('agrees with parsing on every one-byte change of a stored line (true only where parsing says true)', () => {
    const base = bytes(chat(['system', 'S'], ['user', 'Q é'], ['assistant', 'A 世'], ['user', 'q2'], ['assistant', 'a2']).replace('"a2"}', '"a2","weight":1}'));
    const alphabet = [0x00, 0x09, 0x0a, 0x20, 0x22, 0x2c, 0x2f, 0x30, 0x31, 0x3a, 0x5b, 0x5c, 0x5d, 0x61, 0x65, 0x6e, 0x75, 0x7b, 0x7d, 0xc2, 0xa0];
    let agreed = 0;
    for (let i = 0; i < base.length; i++) {
      for (const c of alphabet) {
        for (const edit of ['replace', 'insert', 'delete'] as const) {
          const b = edit === 'replace' ? Uint8Array.from(base, (x, k) => (k === i ? c : x)) : edit === 'insert' ? Uint8Array.from([...base.subarray(0, i), c, ...base.subarray(i)]) : Uint8Array.from([...base.subarray(0, i), ...base.subarray(i + 1)]);
          if (!isUtf8(b)) continue; // readers only offer valid UTF-8
          const fast = isStoredMessagesBytes(b);
          if (fast) {
            expect(reference(Buffer.from(b).toString('utf8'), MESSAGES), Buffer.from(b).toString('utf8')).toBe(true);
            agreed++;
          }
        }
      }
    }
    expect(agreed).toBeGreaterThan(100); // e.g. changed letters inside the texts stay accepted
  });

  it('is offered only where the stored form is what the file holds', () => {
    expect(storedBytesCheck(MESSAGES)).toBe(isStoredMessagesBytes);
    expect(storedBytesCheck(TEXT)).toBe(isStoredTextBytes);
    expect(storedBytesCheck({ shape: 'messages', mapping: { messages: 'conversations', role: 'role', content: 'content' } })).toBeUndefined();
    expect(storedBytesCheck({ shape: 'text', mapping: { text: 'body' } })).toBeUndefined();
    expect(storedBytesCheck({ shape: 'alpaca', mapping: { instruction: 'instruction', input: 'input', output: 'output' } })).toBeUndefined();
  });
});
