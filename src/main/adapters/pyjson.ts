/**
 * JSON exactly as Python writes it with `json.dumps(obj, indent=2, sort_keys=True)` — the way PEFT
 * saves adapter_config.json — so an exported config is byte-identical to PEFT's.
 *
 * Python tells ints from floats (`0.0` vs `0`); JavaScript does not. Parsing keeps that
 * distinction: a number literal with a fraction or exponent becomes a `PyFloat`. Dumping follows
 * Python: sorted keys, `": "` and `","` separators with newlines, non-ASCII escaped as \uXXXX
 * (ensure_ascii), floats in `repr` form (`1e-05`, `16.0`). No trailing newline, as PEFT writes it.
 */

export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJson = null | boolean | number | PyFloat | string | PyJson[] | { [key: string]: PyJson };
export type PyJsonObject = { [key: string]: PyJson };

export function pyFloat(v: number): PyFloat {
  return new PyFloat(v);
}

/** A number as Python would type it if a user wrote it naturally: integral → int, else float. */
export function pyNumber(v: number): number | PyFloat {
  return Number.isInteger(v) ? v : new PyFloat(v);
}

/** Plain JS value (numbers, nested objects) of a parsed tree. */
export function toPlain(v: PyJson): unknown {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

export class PyJsonError extends Error {}

/** Parses JSON text, keeping float literals as PyFloat. */
export function parsePyJson(text: string): PyJson {
  let i = 0;
  const fail = (what: string): never => {
    throw new PyJsonError(`${what} at position ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (): PyJson => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: PyJsonObject = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = str();
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        obj[k] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr: PyJson[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
      ['NaN', new PyFloat(NaN)],
      ['Infinity', new PyFloat(Infinity)],
      ['-Infinity', new PyFloat(-Infinity)],
    ] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('unexpected character');
    i += m[0].length;
    const n = Number(m[0]);
    return m[1] || m[2] ? new PyFloat(n) : n;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) fail('unexpected text after the value');
  return v;
}

/** Python's float repr: shortest round-trip digits; scientific below 1e-4 or from 1e16. */
export function pyFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = v.toExponential().split('e');
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let out: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp < 0) {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    out = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return neg ? `-${out}` : out;
}

function pyString(s: string): string {
  // JSON.stringify escapes like Python except that Python also escapes every non-ASCII char.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function dumpsPyJson(v: PyJson, indent = 2): string {
  const write = (x: PyJson, level: number): string => {
    const pad = ' '.repeat(indent * (level + 1));
    const close = ' '.repeat(indent * level);
    if (x === null) return 'null';
    if (x === true) return 'true';
    if (x === false) return 'false';
    if (x instanceof PyFloat) return pyFloatRepr(x.value);
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) return pyFloatRepr(x);
      return String(x);
    }
    if (typeof x === 'string') return pyString(x);
    if (Array.isArray(x)) {
      if (x.length === 0) return '[]';
      return `[\n${x.map((e) => pad + write(e, level + 1)).join(',\n')}\n${close}]`;
    }
    const keys = Object.keys(x).sort(comparePyStrings);
    if (keys.length === 0) return '{}';
    return `{\n${keys.map((k) => `${pad}${pyString(k)}: ${write(x[k], level + 1)}`).join(',\n')}\n${close}}`;
  };
  return write(v, 0);
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units. */
function comparePyStrings(a: string, b: string): number {
  const ca = [...a].map((c) => c.codePointAt(0) as number);
  const cb = [...b].map((c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
  return ca.length - cb.length;
}
