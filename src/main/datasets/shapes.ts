/**
 * Shapes: telling Alpaca from ShareGPT from OpenAI chat from prompt/completion from plain text by
 * the keys of a record, and turning one record into the stored example ({messages} or {text}).
 *
 * Detection looks at one record's keys, including the usual other names (Dolly's
 * instruction/context/response, question/answer, query/response, ...), and returns the mapping it
 * used so the user can see and change it. Every problem with a record becomes a RowError whose
 * message names the field as the user's file spells it.
 */
import { SHAPES, type Example, type Mapping, type Message, type Role, type Shape } from './types';

export class RowError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RowError';
  }
}


/**
 * Every field of each shape (the keys, in the contract's DATASET_SHAPE_FIELDS order: a test holds
 * them equal), with the other names seen in the wild for it, tried in order when the canonical
 * name is absent. Kept here rather than read from the contract so that the import worker does not
 * load the contract's schema library.
 */
const ALIASES: Record<Shape, Record<string, string[]>> = {
  alpaca: { instruction: ['instruction'], input: ['input', 'context'], output: ['output', 'response'], system: ['system'], history: ['history'] },
  sharegpt: { conversations: ['conversations', 'conversation'], from: ['from'], value: ['value'], system: ['system'] },
  messages: { messages: ['messages', 'conversations', 'conversation', 'chat', 'dialog'], role: ['role'], content: ['content'] },
  'prompt-completion': {
    prompt: ['prompt', 'question', 'query', 'input'],
    completion: ['completion', 'answer', 'response', 'output'],
    system: ['system'],
  },
  text: { text: ['text'] },
};

export function describeShapes(): string {
  return [
    'alpaca (instruction, input?, output, system?)',
    'sharegpt (conversations: [{from, value}])',
    'messages (messages: [{role, content}])',
    'prompt-completion (prompt, completion)',
    'text (text)',
  ].join('; ');
}

export class UnknownShapeError extends Error {
  constructor(
    readonly keys: string[],
    detail?: string,
  ) {
    super(
      `cannot tell the dataset's shape${detail ? ` (${detail})` : ''}: keys found: ${keys.length ? keys.join(', ') : '(none)'}. ` +
        `Shapes understood: ${describeShapes()}. Choose a shape and map your columns, ` +
        `e.g. --format prompt-completion --map prompt=question,completion=answer`,
    );
    this.name = 'UnknownShapeError';
  }
}

export interface ShapeChoice {
  shape: Shape;
  /** Every field of the shape → the source key it is read from. */
  mapping: Mapping;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (r: Record<string, unknown>, k: string) => r[k] !== undefined && r[k] !== null;

/** A mapping's fields imply the shape when none is given ({prompt, completion} → prompt-completion). */
function shapeFromMapping(mapping: Mapping): Shape | undefined {
  const f = new Set(Object.keys(mapping));
  if (f.has('messages')) return 'messages';
  if (f.has('conversations')) return 'sharegpt';
  if (f.has('instruction') || (f.has('output') && !f.has('completion'))) return 'alpaca';
  if (f.has('prompt') || f.has('completion')) return 'prompt-completion';
  if (f.has('text')) return 'text';
  return undefined;
}

/** Fill in every field of `shape`: the user's mapping first, then the first alias present in `record`. */
export function resolveMapping(shape: Shape, record: Record<string, unknown>, given: Mapping = {}): Mapping {
  const known = Object.keys(ALIASES[shape]);
  for (const field of Object.keys(given)) {
    if (!known.includes(field)) throw new Error(`mapping: "${field}" is not a field of the ${shape} shape (fields: ${known.join(', ')})`);
  }
  const mapping: Mapping = {};
  const taken = new Set(Object.values(given));
  for (const field of known) {
    if (given[field]) {
      mapping[field] = given[field];
      continue;
    }
    const alias = ALIASES[shape][field].find((k) => has(record, k) && !taken.has(k));
    mapping[field] = alias ?? field;
    if (alias) taken.add(alias);
  }
  return mapping;
}

function looksLikeMessages(list: unknown, roleKey: string, contentKey: string): boolean {
  return Array.isArray(list) && list.length > 0 && isObject(list[0]) && roleKey in list[0] && contentKey in list[0];
}

/**
 * Decide the shape of `record` (the first record of a file). An explicit shape or mapping wins;
 * otherwise the keys decide. Throws UnknownShapeError listing the keys found.
 */
export function detectShape(record: unknown, opts: { shape?: Shape; mapping?: Mapping } = {}): ShapeChoice {
  if (!isObject(record)) {
    throw new UnknownShapeError([], `a record is ${Array.isArray(record) ? 'an array' : typeof record}, expected an object`);
  }
  const given = opts.mapping ?? {};
  const shape = opts.shape ?? shapeFromMapping(given) ?? guessShape(record);
  if (!shape) throw new UnknownShapeError(Object.keys(record));
  const mapping = resolveMapping(shape, record, given);
  return { shape, mapping };
}

function guessShape(r: Record<string, unknown>): Shape | undefined {
  for (const key of ALIASES.messages.messages) {
    const v = parseJsonCell(r[key]);
    if (looksLikeMessages(v, 'role', 'content')) return 'messages';
    if (looksLikeMessages(v, 'from', 'value')) return 'sharegpt';
  }
  if (has(r, 'instruction') && (has(r, 'output') || has(r, 'response'))) return 'alpaca';
  const pc = ALIASES['prompt-completion'];
  if (pc.prompt.some((k) => has(r, k)) && pc.completion.some((k) => has(r, k))) return 'prompt-completion';
  if (has(r, 'text') && (typeof r.text === 'string' || typeof r.text === 'number')) return 'text';
  return undefined;
}

/** CSV cells and Parquet strings may hold a JSON list (`[{"role": ...}]`): read it as one. */
function parseJsonCell(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trimStart();
  if (!s.startsWith('[')) return v;
  try {
    return JSON.parse(s);
  } catch {
    return v;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

/** A text field: strings as they are, numbers as their decimal text; absent/null is "missing". */
function text(r: Record<string, unknown>, key: string, field: string, required: true): string;
function text(r: Record<string, unknown>, key: string, field: string, required: false): string | undefined;
function text(r: Record<string, unknown>, key: string, field: string, required: boolean): string | undefined {
  const v = r[key];
  const label = key === field ? `"${key}"` : `"${key}" (${field})`;
  if (v === undefined || v === null) {
    if (required) throw new RowError(`missing field ${label}`);
    return undefined;
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  throw new RowError(`wrong type: ${label} is ${typeName(v)}, expected text`);
}

const ROLE_NAMES: Record<string, Role> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  prompter: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  bot: 'assistant',
  model: 'assistant',
  chatgpt: 'assistant',
  bard: 'assistant',
  bing: 'assistant',
  tool: 'tool',
  function: 'tool',
  observation: 'tool',
  ipython: 'tool',
};

/** OpenAI content may be a list of parts; only text parts can be trained on here. */
function contentText(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) {
    return v
      .map((part, i) => {
        if (typeof part === 'string') return part;
        if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
        const kind = isObject(part) && typeof part.type === 'string' ? `"${part.type}" part` : typeName(part);
        throw new RowError(`wrong type: ${where} content[${i}] is ${kind}; only text content is supported`);
      })
      .join('');
  }
  throw new RowError(`wrong type: ${where} content is ${typeName(v)}, expected text`);
}

function readMessages(list: unknown, key: string, roleKey: string, contentKey: string): Message[] {
  const v = parseJsonCell(list);
  if (v === undefined || v === null) throw new RowError(`missing field "${key}"`);
  if (!Array.isArray(v)) throw new RowError(`wrong type: "${key}" is ${typeName(v)}, expected a list of messages`);
  return v.map((m, i) => {
    const where = `${key}[${i}]`;
    if (!isObject(m)) throw new RowError(`wrong type: ${where} is ${typeName(m)}, expected an object with "${roleKey}" and "${contentKey}"`);
    const rawRole = m[roleKey];
    if (rawRole === undefined || rawRole === null) throw new RowError(`missing field "${roleKey}" in ${where}`);
    if (typeof rawRole !== 'string') throw new RowError(`wrong type: ${where}.${roleKey} is ${typeName(rawRole)}, expected text`);
    const role = ROLE_NAMES[rawRole.toLowerCase()];
    if (!role) throw new RowError(`unknown role "${rawRole}" in ${where} (understood: ${Object.keys(ROLE_NAMES).join(', ')})`);
    if (!(contentKey in m) && !('tool_calls' in m)) throw new RowError(`missing field "${contentKey}" in ${where}`);
    const msg: Message = { role, content: contentText(m[contentKey], where) };
    if (m.weight === 0 || m.weight === 1) msg.weight = m.weight;
    else if (m.weight !== undefined) throw new RowError(`wrong type: ${where}.weight must be 0 or 1`);
    return msg;
  });
}

/** Role order every template agrees on; what a particular template refuses is found when rendering. */
export function checkConversation(messages: Message[]): void {
  if (messages.length === 0) throw new RowError('role order: the conversation has no messages');
  let seenUser = false;
  let trained = 0;
  messages.forEach((m, i) => {
    if (m.role === 'system' && i > 0) throw new RowError(`role order: message ${i + 1} is a system message; only the first message may be one`);
    if (m.role === 'user') seenUser = true;
    if (m.role === 'assistant') {
      if (!seenUser) throw new RowError(`role order: message ${i + 1} is an assistant turn before any user turn`);
      if (m.content.trim() === '') throw new RowError(`empty completion (message ${i + 1})`);
      if (m.weight !== 0) trained++;
    }
  });
  if (!messages.some((m) => m.role === 'assistant')) throw new RowError('role order: no assistant turn to train on');
  if (trained === 0) throw new RowError('every assistant turn has weight 0: nothing to train on');
}

function promptSide(r: Record<string, unknown>, key: string): Message[] {
  const v = parseJsonCell(r[key]);
  if (Array.isArray(v)) return readMessages(v, key, 'role', 'content');
  return [{ role: 'user', content: text(r, key, 'prompt', true) }];
}

function completionSide(r: Record<string, unknown>, key: string): Message[] {
  const v = parseJsonCell(r[key]);
  if (Array.isArray(v)) return readMessages(v, key, 'role', 'content');
  return [{ role: 'assistant', content: text(r, key, 'completion', true) }];
}

/** Turn one record into the stored example, or throw a RowError saying why it cannot be one. */
export function normalise(record: unknown, { shape, mapping }: ShapeChoice): Example {
  if (!isObject(record)) throw new RowError(`wrong type: the record is ${typeName(record)}, expected an object`);
  const r = record;
  const m = (field: string) => mapping[field] ?? field;
  switch (shape) {
    case 'text': {
      const t = text(r, m('text'), 'text', true);
      if (t.trim() === '') throw new RowError('empty text');
      return { text: t };
    }
    case 'messages': {
      const messages = readMessages(r[m('messages')], m('messages'), m('role'), m('content'));
      checkConversation(messages);
      return { messages };
    }
    case 'sharegpt': {
      const messages = readMessages(r[m('conversations')], m('conversations'), m('from'), m('value'));
      const system = text(r, m('system'), 'system', false);
      if (system && messages[0]?.role !== 'system') messages.unshift({ role: 'system', content: system });
      checkConversation(messages);
      return { messages };
    }
    case 'alpaca': {
      const instruction = text(r, m('instruction'), 'instruction', true);
      const input = text(r, m('input'), 'input', false);
      const output = text(r, m('output'), 'output', true);
      const system = text(r, m('system'), 'system', false);
      const messages: Message[] = [];
      if (system) messages.push({ role: 'system', content: system });
      messages.push(...alpacaHistory(r[m('history')], m('history')));
      // Alpaca's own prompt puts the input under the instruction; a blank line keeps them apart.
      messages.push({ role: 'user', content: input ? `${instruction}\n\n${input}` : instruction });
      messages.push({ role: 'assistant', content: output });
      checkConversation(messages);
      return { messages };
    }
    case 'prompt-completion': {
      const system = text(r, m('system'), 'system', false);
      const messages: Message[] = system ? [{ role: 'system', content: system }] : [];
      messages.push(...promptSide(r, m('prompt')), ...completionSide(r, m('completion')));
      checkConversation(messages);
      return { messages };
    }
  }
}

/** LLaMA-Factory's Alpaca `history`: earlier [instruction, response] pairs. */
function alpacaHistory(v: unknown, key: string): Message[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RowError(`wrong type: "${key}" is ${typeName(v)}, expected a list of [instruction, response] pairs`);
  return v.flatMap((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new RowError(`wrong type: ${key}[${i}] must be a pair of texts [instruction, response]`);
    }
    return [
      { role: 'user' as const, content: pair[0] },
      { role: 'assistant' as const, content: pair[1] },
    ];
  });
}

const STORED_ROLES = new Set(['system', 'user', 'assistant', 'tool']);

/**
 * Whether a record is already exactly what would be stored (`{"text"}` or `{"messages": [{role,
 * content}]}` with canonical roles) and valid, so its JSON text can be stored as written: the
 * import's hot path skips building and re-serialising the same object. False sends the record
 * through normalise(), which also gives the reason when it is invalid.
 */
export function isStoredForm(record: unknown, { shape, mapping }: ShapeChoice): boolean {
  if (!isObject(record)) return false;
  let keys = 0;
  for (const _ in record) keys++;
  if (keys !== 1) return false;
  if (shape === 'text') return mapping.text === 'text' && typeof record.text === 'string' && record.text.trim() !== '';
  if (shape !== 'messages' || mapping.messages !== 'messages' || mapping.role !== 'role' || mapping.content !== 'content') return false;
  const list = record.messages;
  if (!Array.isArray(list)) return false;
  for (const m of list) {
    if (!isObject(m) || typeof m.role !== 'string' || !STORED_ROLES.has(m.role) || typeof m.content !== 'string') return false;
    let n = 0;
    for (const _ in m) n++;
    if (n !== ('weight' in m ? 3 : 2) || (m.weight !== undefined && m.weight !== 0 && m.weight !== 1)) return false;
  }
  try {
    checkConversation(list as Message[]);
    return true;
  } catch {
    return false;
  }
}

/** The record keys a shape cannot do without (the message list's inner keys are checked per message). */
export function hasRequiredKeys(record: unknown, { shape, mapping }: ShapeChoice): boolean {
  if (!isObject(record)) return false;
  const required: Record<Shape, string[]> = {
    alpaca: ['instruction', 'output'],
    sharegpt: ['conversations'],
    messages: ['messages'],
    'prompt-completion': ['prompt', 'completion'],
    text: ['text'],
  };
  return required[shape].every((field) => has(record, mapping[field] ?? field));
}

export function isShape(s: string): s is Shape {
  return (SHAPES as readonly string[]).includes(s);
}
