import { describe, expect, it } from 'vitest';
import { DATASET_SHAPE_FIELDS, DATASET_SHAPES } from '../../../src/shared/contract/datasets';
import { RowError, UnknownShapeError, detectShape, normalise, resolveMapping } from '../../../src/main/datasets/shapes';

const norm = (record: unknown, opts: Parameters<typeof detectShape>[1] = {}) => normalise(record, detectShape(record, opts));

describe('shape detection', () => {
  it('tells each shape from its keys', () => {
    expect(detectShape({ instruction: 'a', input: '', output: 'b' }).shape).toBe('alpaca');
    expect(detectShape({ conversations: [{ from: 'human', value: 'x' }] }).shape).toBe('sharegpt');
    expect(detectShape({ messages: [{ role: 'user', content: 'x' }] }).shape).toBe('messages');
    expect(detectShape({ prompt: 'a', completion: 'b' }).shape).toBe('prompt-completion');
    expect(detectShape({ text: 'a' }).shape).toBe('text');
  });

  it('recognises common other names and says which it used', () => {
    expect(detectShape({ question: 'q', answer: 'a' })).toEqual({ shape: 'prompt-completion', mapping: { prompt: 'question', completion: 'answer', system: 'system' } });
    // Dolly: instruction / context / response
    expect(detectShape({ instruction: 'i', context: 'c', response: 'r' }).mapping).toMatchObject({ input: 'context', output: 'response' });
    // ShareGPT-style key holding OpenAI messages
    expect(detectShape({ conversations: [{ role: 'user', content: 'x' }] })).toMatchObject({ shape: 'messages', mapping: { messages: 'conversations' } });
  });

  it('maps exactly the fields the contract lists for each shape (the mapping UI offers those)', () => {
    for (const shape of DATASET_SHAPES) {
      expect(Object.keys(resolveMapping(shape, {}))).toEqual(DATASET_SHAPE_FIELDS[shape].map((f) => f.field));
    }
  });

  it('lets a mapping or a forced shape override detection', () => {
    expect(detectShape({ q: 'x', a: 'y' }, { mapping: { prompt: 'q', completion: 'a' } }).shape).toBe('prompt-completion');
    expect(detectShape({ body: 'x' }, { shape: 'text', mapping: { text: 'body' } }).mapping).toEqual({ text: 'body' });
    expect(() => detectShape({ q: 'x' }, { shape: 'text', mapping: { prompt: 'q' } })).toThrow(/"prompt" is not a field of the text shape/);
  });

  it('explains an unknown shape with the shapes understood and the keys found', () => {
    let err: unknown;
    try {
      detectShape({ foo: 1, bar: 2 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownShapeError);
    const msg = (err as Error).message;
    expect(msg).toContain('keys found: foo, bar');
    for (const s of ['alpaca', 'sharegpt', 'messages', 'prompt-completion', 'text']) expect(msg).toContain(s);
    expect(msg).toContain('--map prompt=question,completion=answer');
  });
});

describe('normalisation', () => {
  it('Alpaca → system, user (instruction + input), assistant', () => {
    expect(norm({ instruction: 'Translate', input: 'chat', output: 'cat', system: 'Be exact.' })).toEqual({
      messages: [
        { role: 'system', content: 'Be exact.' },
        { role: 'user', content: 'Translate\n\nchat' },
        { role: 'assistant', content: 'cat' },
      ],
    });
    expect(norm({ instruction: 'Hi', input: null, output: 'Hello', history: [['a', 'b']] })).toEqual({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
      ],
    });
  });

  it('ShareGPT speakers become roles; a top-level system is put first', () => {
    expect(norm({ system: 'S', conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] })).toEqual({
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    });
  });

  it('OpenAI messages: text content parts are joined, weight is kept, non-text parts are refused', () => {
    expect(
      norm({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
          { role: 'assistant', content: 'x', weight: 0 },
          { role: 'user', content: 'c' },
          { role: 'assistant', content: 'y' },
        ],
      }),
    ).toEqual({
      messages: [
        { role: 'user', content: 'ab' },
        { role: 'assistant', content: 'x', weight: 0 },
        { role: 'user', content: 'c' },
        { role: 'assistant', content: 'y' },
      ],
    });
    expect(() => norm({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'x' }] }, { role: 'assistant', content: 'y' }] })).toThrow(
      /messages\[0\] content\[0\] is "image_url" part; only text content is supported/,
    );
  });

  it('prompt/completion: plain texts, or TRL conversational lists; numbers become text', () => {
    expect(norm({ prompt: 'What is 6×7?', completion: 42 })).toEqual({
      messages: [
        { role: 'user', content: 'What is 6×7?' },
        { role: 'assistant', content: '42' },
      ],
    });
    expect(norm({ prompt: [{ role: 'user', content: 'q' }], completion: [{ role: 'assistant', content: 'a' }] })).toEqual({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    });
  });

  it('reads message lists stored as JSON text (CSV cells)', () => {
    expect(norm({ messages: '[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]' })).toMatchObject({ messages: [{ role: 'user' }, { role: 'assistant' }] });
  });

  it('keeps text exactly, non-Latin and emoji included', () => {
    expect(norm({ text: '  日本語のテキスト 🎌\n' })).toEqual({ text: '  日本語のテキスト 🎌\n' });
  });

  const reason = (record: unknown, opts: Parameters<typeof detectShape>[1] = {}) => {
    try {
      norm(record, opts);
    } catch (err) {
      expect(err).toBeInstanceOf(RowError);
      return (err as Error).message;
    }
    throw new Error('expected a RowError');
  };

  it('says what is wrong with a record', () => {
    expect(reason({ instruction: 'x', output: null }, { shape: 'alpaca' })).toBe('missing field "output"');
    expect(reason({ question: 'x' }, { mapping: { prompt: 'question', completion: 'answer' } })).toBe('missing field "answer" (completion)');
    expect(reason({ instruction: 'x', output: { a: 1 } }, { shape: 'alpaca' })).toBe('wrong type: "output" is an object, expected text');
    expect(reason({ instruction: 'x', output: true }, { shape: 'alpaca' })).toBe('wrong type: "output" is a boolean, expected text');
    expect(reason({ prompt: 'x', completion: ' \n' })).toBe('empty completion (message 2)');
    expect(reason({ text: '   ' })).toBe('empty text');
    expect(reason({ messages: 'not a list' }, { shape: 'messages' })).toBe('wrong type: "messages" is string, expected a list of messages');
    expect(reason({ messages: [{ role: 'robot', content: 'x' }] }, { shape: 'messages' })).toMatch(/^unknown role "robot" in messages\[0\]/);
    expect(reason({ messages: [{ content: 'x' }] }, { shape: 'messages' })).toBe('missing field "role" in messages[0]');
    expect(() => normalise([1, 2], { shape: 'text', mapping: { text: 'text' } })).toThrow('wrong type: the record is a list, expected an object');
  });

  it('checks the role order every template agrees on', () => {
    const m = (...roles: string[]) => ({ messages: roles.map((role) => ({ role, content: 'x' })) });
    expect(reason(m('user', 'system', 'assistant'))).toBe('role order: message 2 is a system message; only the first message may be one');
    expect(reason(m('assistant', 'user', 'assistant'))).toBe('role order: message 1 is an assistant turn before any user turn');
    expect(reason(m('system', 'user'))).toBe('role order: no assistant turn to train on');
    expect(reason({ messages: [] }, { shape: 'messages' })).toBe('role order: the conversation has no messages');
    expect(norm(m('system', 'user', 'assistant', 'tool', 'assistant'))).toBeTruthy();
  });
});
