/**
 * An Ollama Modelfile for an exported GGUF: FROM, TEMPLATE (the training chat template translated
 * from Jinja into Go template syntax) and PARAMETER stop lines.
 *
 * Translation works by probing, not by parsing Jinja: the training template is rendered for a few
 * conversations whose contents are unique markers, and the text around each marker gives, per
 * role, what precedes and follows a message, the block emitted when there is no system message,
 * and the generation prompt. That "wrapper" description is then checked by re-rendering other
 * conversations both ways; only when every rendering matches is a TEMPLATE written. This covers
 * ChatML (Qwen, SmolLM), Llama 3, Alpaca-style and the studio's built-in templates. Templates that
 * are not per-message wrappers (Llama 2's [INST] with the system prompt inside the first user turn)
 * get no TEMPLATE and a note: Ollama then falls back to the GGUF's tokenizer.chat_template.
 *
 * The leading BOS a template writes is dropped: llama.cpp/Ollama add it from
 * tokenizer.ggml.add_bos_token, and writing it twice changes the model's input.
 */
import { renderChatTemplate, type ChatMessage } from '../ml/chat-template';

export interface ChatWrapper {
  /** Emitted first when the conversation does not start with a system message ('' if nothing). */
  defaultBlock: string;
  pre: Record<'system' | 'user' | 'assistant', string>;
  post: Record<'system' | 'user' | 'assistant', string>;
  /** Opens the assistant's turn for generation. */
  generation: string;
}

export interface TemplateTokens {
  bos?: string | null;
  eos?: string | null;
  /** Other special tokens the template reads (pad_token, unk_token, ...). */
  extra?: Record<string, string>;
}

const M = (tag: string) => `\u0002${tag}\u0003`;

const BOS_MARK = M('BOS');

/**
 * Renders with bos_token set to a marker, so a BOS the template writes is told apart from text
 * that merely equals it (SmolLM2's BOS is "<|im_start|>"): a leading BOS is dropped, others kept.
 */
function render(template: string, messages: ChatMessage[], gen: boolean, tokens: TemplateTokens): string {
  const special: Record<string, string> = { ...tokens.extra, bos_token: BOS_MARK };
  if (tokens.eos) special.eos_token = tokens.eos;
  let out = renderChatTemplate(template, messages, { addGenerationPrompt: gen, specialTokens: special });
  if (out.startsWith(BOS_MARK)) out = out.slice(BOS_MARK.length);
  return out.split(BOS_MARK).join(tokens.bos ?? '');
}

/** Splits `text` at the markers (in order); null if they do not all appear in that order. */
function splitAt(text: string, markers: string[]): string[] | null {
  const parts: string[] = [];
  let pos = 0;
  for (const m of markers) {
    const i = text.indexOf(m, pos);
    if (i < 0) return null;
    parts.push(text.slice(pos, i));
    pos = i + m.length;
  }
  parts.push(text.slice(pos));
  return parts;
}

const msg = (role: ChatMessage['role'], tag: string): ChatMessage => ({ role, content: M(tag) });

/** Renders `messages` with a wrapper description (what the Go template will produce). */
export function renderWithWrapper(w: ChatWrapper, messages: readonly ChatMessage[], gen: boolean): string {
  let out = messages[0]?.role === 'system' ? '' : w.defaultBlock;
  for (const m of messages) {
    const role = m.role as 'system' | 'user' | 'assistant';
    out += w.pre[role] + m.content + w.post[role];
  }
  return gen ? out + w.generation : out;
}

/** The wrapper description of `template`, or the reason it is not one. */
export function probeChatTemplate(template: string, tokens: TemplateTokens = {}): { wrapper: ChatWrapper } | { reason: string } {
  try {
    const full = splitAt(render(template, [msg('system', 'S1'), msg('user', 'U1'), msg('assistant', 'A1'), msg('user', 'U2'), msg('assistant', 'A2')], false, tokens), [M('S1'), M('U1'), M('A1'), M('U2'), M('A2')]);
    const noSys = splitAt(render(template, [msg('user', 'U1'), msg('assistant', 'A1')], false, tokens), [M('U1'), M('A1')]);
    const open = splitAt(render(template, [msg('user', 'U1')], false, tokens), [M('U1')]);
    const gen = splitAt(render(template, [msg('user', 'U1')], true, tokens), [M('U1')]);
    if (!full || !noSys || !open || !gen) return { reason: 'the template drops or reorders message contents' };
    const [sysPre, sysToUser, userToAssist, assistToUser, userToAssist2, assistEnd] = full;
    const userPost = open[1];
    if (!gen[1].startsWith(userPost)) return { reason: 'the generation prompt does not follow the user turn' };
    const generation = gen[1].slice(userPost.length);
    const assistPost = assistEnd;
    if (!assistToUser.startsWith(assistPost)) return { reason: 'assistant turns end differently in the middle and at the end' };
    const userPre = assistToUser.slice(assistPost.length);
    if (!sysToUser.endsWith(userPre)) return { reason: 'the system message is not a turn of its own' };
    const sysPost = sysToUser.slice(0, sysToUser.length - userPre.length);
    if (!userToAssist.startsWith(userPost) || userToAssist !== userToAssist2) return { reason: 'user turns end differently depending on what follows' };
    const assistPre = userToAssist.slice(userPost.length);
    if (!noSys[0].endsWith(userPre)) return { reason: 'the first user turn is written differently without a system message' };
    const wrapper: ChatWrapper = {
      defaultBlock: noSys[0].slice(0, noSys[0].length - userPre.length),
      pre: { system: sysPre, user: userPre, assistant: assistPre },
      post: { system: sysPost, user: userPost, assistant: assistPost },
      generation,
    };
    // Check the description on conversations it was not derived from.
    const checks: [ChatMessage[], boolean][] = [
      [[msg('system', 'X'), msg('user', 'Y')], true],
      [[msg('user', 'Y'), msg('assistant', 'Z'), msg('user', 'W')], true],
      [[msg('system', 'X'), msg('user', 'Y'), msg('assistant', 'Z')], false],
      [[msg('user', 'Y'), msg('assistant', 'Z'), msg('user', 'W'), msg('assistant', 'V'), msg('user', 'T')], true],
    ];
    for (const [messages, g] of checks) {
      if (render(template, messages, g, tokens) !== renderWithWrapper(wrapper, messages, g)) return { reason: 'the template is not a fixed wrapper around each message' };
    }
    return { wrapper };
  } catch (err) {
    return { reason: `the template does not render: ${(err as Error).message}` };
  }
}

/** Text for a Go template: literal, except that "{{" must be written as an action. */
function goLiteral(s: string): string {
  return s.split('{{').join('{{ "{{" }}');
}

/** The Go template (Ollama TEMPLATE) that renders exactly what `w` describes. */
export function goTemplate(w: ChatWrapper): string {
  const role = (r: 'system' | 'user' | 'assistant') => `${goLiteral(w.pre[r])}{{ .Content }}${goLiteral(w.post[r])}`;
  const dflt = w.defaultBlock ? `{{ if or (not .Messages) (ne (index .Messages 0).Role "system") }}${goLiteral(w.defaultBlock)}{{ end }}` : '';
  return (
    dflt +
    '{{ range .Messages }}' +
    `{{ if eq .Role "system" }}${role('system')}` +
    `{{ else if eq .Role "user" }}${role('user')}` +
    `{{ else if eq .Role "assistant" }}${role('assistant')}` +
    '{{ end }}{{ end }}' +
    goLiteral(w.generation)
  );
}

/** Stop strings: the assistant's end-of-turn marker, EOS, and the marker that opens a user turn. */
export function stopStrings(w: ChatWrapper | null, eos: string | null | undefined): string[] {
  const out: string[] = [];
  const add = (s: string | null | undefined) => {
    const t = (s ?? '').trim();
    if (t && !out.includes(t)) out.push(t);
  };
  if (w) {
    add(w.post.assistant);
    add(eos);
    add(w.pre.user.split('\n')[0]);
  } else {
    add(eos);
  }
  return out;
}

function quoted(s: string): string {
  if (!s.includes('"""')) return `"""${s}"""`;
  return JSON.stringify(s);
}

export interface ModelfileResult {
  text: string;
  translated: boolean;
  /** Why no TEMPLATE was written, when it was not. */
  note?: string;
  stops: string[];
}

export function buildModelfile(opts: { ggufFile: string; chatTemplate: string | null; tokens: TemplateTokens }): ModelfileResult {
  const lines = [`FROM ./${opts.ggufFile}`];
  let wrapper: ChatWrapper | null = null;
  let note: string | undefined;
  if (opts.chatTemplate) {
    const p = probeChatTemplate(opts.chatTemplate, opts.tokens);
    if ('wrapper' in p) wrapper = p.wrapper;
    else note = `the training chat template could not be translated to Ollama's syntax (${p.reason}); Ollama will use tokenizer.chat_template from the GGUF`;
  } else {
    note = 'the adapter has no chat template; the model is for plain text completion';
  }
  if (wrapper) lines.push(`TEMPLATE ${quoted(goTemplate(wrapper))}`);
  const stops = stopStrings(wrapper, opts.tokens.eos);
  for (const s of stops) lines.push(`PARAMETER stop ${JSON.stringify(s)}`);
  return { text: lines.join('\n') + '\n', translated: wrapper !== null, note, stops };
}
