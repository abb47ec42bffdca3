/**
 * A tiny evaluator for the subset of Go's text/template that the Modelfile TEMPLATE uses (range,
 * if / else if, eq, ne, not, or, index, field access, string literals), written independently of
 * the generator so tests check what Ollama would render, not what we meant to emit.
 */
interface Msg {
  Role: string;
  Content: string;
}
type Ctx = { Messages: Msg[] } | Msg;
type Node = { t: 'text'; v: string } | { t: 'out'; e: string } | { t: 'if'; branches: { cond: string | null; body: Node[] }[] } | { t: 'range'; e: string; body: Node[] };

function tokenize(src: string): ({ t: 'text'; v: string } | { t: 'act'; v: string })[] {
  const out: ({ t: 'text'; v: string } | { t: 'act'; v: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const j = src.indexOf('{{', i);
    if (j < 0) {
      out.push({ t: 'text', v: src.slice(i) });
      break;
    }
    if (j > i) out.push({ t: 'text', v: src.slice(i, j) });
    // find the closing }} outside string literals
    let k = j + 2;
    let inStr = false;
    while (k < src.length) {
      if (src[k] === '"' && src[k - 1] !== '\\') inStr = !inStr;
      if (!inStr && src.startsWith('}}', k)) break;
      k++;
    }
    let body = src.slice(j + 2, k).trim();
    if (body.startsWith('-') || body.endsWith('-')) throw new Error('trim markers are not supported by this evaluator');
    body = body.trim();
    out.push({ t: 'act', v: body });
    i = k + 2;
  }
  return out;
}

function parse(tokens: ReturnType<typeof tokenize>): Node[] {
  let pos = 0;
  const block = (): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const tk = tokens[pos++];
      if (tk.t === 'text') {
        nodes.push({ t: 'text', v: tk.v });
        continue;
      }
      const a = tk.v;
      if (a === 'end' || a === 'else' || a.startsWith('else if ')) return { nodes, end: a };
      if (a.startsWith('range ')) {
        const inner = block();
        nodes.push({ t: 'range', e: a.slice(6), body: inner.nodes });
      } else if (a.startsWith('if ')) {
        const branches: { cond: string | null; body: Node[] }[] = [];
        let cond: string | null = a.slice(3);
        for (;;) {
          const inner = block();
          branches.push({ cond, body: inner.nodes });
          if (inner.end === 'end') break;
          cond = inner.end === 'else' ? null : inner.end.slice(8);
        }
        nodes.push({ t: 'if', branches });
      } else {
        nodes.push({ t: 'out', e: a });
      }
    }
    return { nodes, end: '' };
  };
  return block().nodes;
}

function evalExpr(e: string, dot: Ctx, root: Ctx): unknown {
  const args: string[] = [];
  let i = 0;
  while (i < e.length) {
    if (e[i] === ' ') {
      i++;
      continue;
    }
    if (e[i] === '"') {
      let j = i + 1;
      while (e[j] !== '"') j += e[j] === '\\' ? 2 : 1;
      args.push(e.slice(i, j + 1));
      i = j + 1;
    } else if (e[i] === '(') {
      let depth = 0;
      let j = i;
      for (; j < e.length; j++) {
        if (e[j] === '(') depth++;
        if (e[j] === ')' && --depth === 0) break;
      }
      let k = j + 1;
      while (k < e.length && e[k] !== ' ') k++;
      args.push(e.slice(i, k));
      i = k;
    } else {
      let j = i;
      while (j < e.length && e[j] !== ' ') j++;
      args.push(e.slice(i, j));
      i = j;
    }
  }
  const val = (a: string): unknown => {
    if (a.startsWith('"')) return JSON.parse(a);
    if (a.startsWith('(')) {
      const close = a.lastIndexOf(')');
      const v = evalExpr(a.slice(1, close), dot, root) as Record<string, unknown>;
      const field = a.slice(close + 1);
      return field ? v[field.slice(1)] : v;
    }
    if (a.startsWith('$.')) return (root as Record<string, unknown>)[a.slice(2)];
    if (a.startsWith('.')) return (dot as unknown as Record<string, unknown>)[a.slice(1)];
    throw new Error(`unknown operand ${a}`);
  };
  const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0));
  const [f, ...rest] = args;
  switch (f) {
    case 'eq':
      return val(rest[0]) === val(rest[1]);
    case 'ne':
      return val(rest[0]) !== val(rest[1]);
    case 'not':
      return !truthy(val(rest[0]));
    case 'or': {
      for (const r of rest) {
        const v = r.startsWith('(') ? evalExpr(r.slice(1, -1), dot, root) : val(r);
        if (truthy(v)) return v;
      }
      return false;
    }
    case 'index':
      return (val(rest[0]) as unknown[])[Number(rest[1])];
    default:
      return val(f);
  }
}

export function renderGoTemplate(src: string, messages: Msg[]): string {
  const root: Ctx = { Messages: messages };
  const run = (nodes: Node[], dot: Ctx): string =>
    nodes
      .map((n) => {
        if (n.t === 'text') return n.v;
        if (n.t === 'out') return String(evalExpr(n.e, dot, root));
        if (n.t === 'range') return (evalExpr(n.e, dot, root) as Msg[]).map((m) => run(n.body, m)).join('');
        for (const b of n.branches) {
          if (b.cond === null) return run(b.body, dot);
          const v = evalExpr(b.cond, dot, root);
          if (v !== false && v !== undefined && v !== null && v !== '') return run(b.body, dot);
        }
        return '';
      })
      .join('');
  return run(parse(tokenize(src)), root);
}
