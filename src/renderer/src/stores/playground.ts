/**
 * The playground: one prompt sent to the base model and to any number of adapters, answers
 * streamed side by side. The engine runs requests one at a time in the order they were started,
 * so the outputs fill one after another; each knows which one it waits for.
 *
 * Token events can overtake the answer to `generate.start` (the web shell sends events on a
 * WebSocket and answers calls over HTTP), so events for a request id not yet known are held until
 * its start call returns.
 */
import { defineStore } from 'pinia';
import { computed, reactive, ref } from 'vue';
import type { EventPayload, GenerateOutcome, GenerateRequest } from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { onReconnected } from './connection';

export interface SamplingSettings {
  maxNewTokens: number;
  /** 0 = greedy (always the most likely token). */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  seed: number;
  stop: string[];
}

/** One column: the base model, or the base model with an adapter folder attached. */
export interface Contender {
  key: string;
  kind: 'base' | 'adapter';
  label: string;
  /** Adapter id or folder path; null for the base model. */
  adapter: number | string | null;
}

export type OutputStatus = 'idle' | 'waiting' | 'running' | 'done' | 'cancelled' | 'failed';

export interface Output {
  key: string;
  status: OutputStatus;
  requestId: string | null;
  /** What was sent, for the column to show before the answer (raw-prompt mode only). */
  promptShown: string;
  text: string;
  /** Tokens received so far (the final count comes from the engine). */
  tokens: number;
  startedAt: number;
  firstTokenAt: number | null;
  lastTokenAt: number | null;
  finishedAt: number | null;
  /** The engine's report when it finished (with `error` when it failed). */
  outcome: (GenerateOutcome & { error?: string }) | null;
  error: string | null;
  /** The user pressed Cancel while this one was waiting or running. */
  cancelRequested: boolean;
}

export type PromptMode = 'prompt' | 'chat';

export const DEFAULT_SAMPLING: SamplingSettings = {
  maxNewTokens: 64,
  temperature: 0,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  seed: 0,
  stop: [],
};

const BASE: Contender = { key: 'base', kind: 'base', label: 'Base model', adapter: null };

type TokenEvent = EventPayload<'generate.token'>;
type DoneEvent = EventPayload<'generate.done'>;
type Held = { kind: 'token'; ev: TokenEvent } | { kind: 'done'; ev: DoneEvent };

function emptyOutput(key: string): Output {
  return {
    key,
    status: 'idle',
    requestId: null,
    promptShown: '',
    text: '',
    tokens: 0,
    startedAt: 0,
    firstTokenAt: null,
    lastTokenAt: null,
    finishedAt: null,
    outcome: null,
    error: null,
    cancelRequested: false,
  };
}

export const usePlaygroundStore = defineStore('playground', () => {
  const modelId = ref<number | null>(null);
  const mode = ref<PromptMode>('prompt');
  const prompt = ref('');
  const systemPrompt = ref('');
  const sampling = reactive<SamplingSettings>({ ...DEFAULT_SAMPLING, stop: [] });
  const contenders = ref<Contender[]>([BASE]);
  const outputs = reactive<Record<string, Output>>({ base: emptyOutput('base') });
  /** Column keys of the last generation, in the order the engine runs them. */
  const order = ref<string[]>([]);

  const byRequest = new Map<string, string>();
  const held = new Map<string, Held[]>();
  let startsInFlight = 0;
  const cancelRequested = ref(false);

  const running = computed(() => order.value.some((k) => ['waiting', 'running'].includes(outputs[k]?.status ?? '')));

  /** The column this one waits for (the engine runs one request at a time), or null. */
  function waitingFor(key: string): Contender | null {
    const i = order.value.indexOf(key);
    for (let j = 0; j < i; j++) {
      const s = outputs[order.value[j]]?.status;
      if (s === 'waiting' || s === 'running') return contenders.value.find((c) => c.key === order.value[j]) ?? null;
    }
    return null;
  }

  function addAdapter(adapter: number | string, label: string): Contender {
    const exists = contenders.value.find((c) => c.adapter === adapter);
    if (exists) return exists;
    const c: Contender = { key: `adapter:${adapter}`, kind: 'adapter', label, adapter };
    contenders.value = [...contenders.value, c];
    outputs[c.key] = emptyOutput(c.key);
    return c;
  }

  function removeContender(key: string): void {
    if (key === BASE.key || running.value) return;
    contenders.value = contenders.value.filter((c) => c.key !== key);
    delete outputs[key];
    order.value = order.value.filter((k) => k !== key);
  }

  function resetSampling(): void {
    Object.assign(sampling, { ...DEFAULT_SAMPLING, stop: [] });
  }

  function applyToken(key: string, ev: TokenEvent): void {
    const o = outputs[key];
    if (!o || o.finishedAt !== null) return;
    const now = performance.now();
    if (o.status === 'waiting') o.status = 'running';
    o.text += ev.text;
    if (ev.tokenId !== null) {
      o.tokens++;
      o.firstTokenAt ??= now;
      o.lastTokenAt = now;
    }
  }

  function applyDone(key: string, ev: DoneEvent): void {
    const o = outputs[key];
    if (!o) return;
    o.finishedAt = performance.now();
    o.outcome = ev;
    // A queued request still runs its set-up (loading an adapter may fail) before it sees the cancel.
    if (ev.error && o.cancelRequested && o.tokens === 0) {
      o.status = 'cancelled';
      return;
    }
    if (ev.error) {
      o.status = 'failed';
      o.error = ev.error;
      return;
    }
    // The engine's text is final: held-back stop-string prefixes resolved, the stop string cut.
    o.text = ev.text;
    o.tokens = ev.generatedIds.length;
    o.status = ev.finishReason === 'aborted' ? 'cancelled' : 'done';
  }

  function route(requestId: string, item: Held): void {
    const key = byRequest.get(requestId);
    if (key) {
      if (item.kind === 'token') applyToken(key, item.ev);
      else applyDone(key, item.ev);
    } else if (startsInFlight > 0) {
      const list = held.get(requestId) ?? [];
      list.push(item);
      held.set(requestId, list);
    }
  }

  api.on('generate.token', (ev) => route(ev.requestId, { kind: 'token', ev }));
  api.on('generate.done', (ev) => route(ev.requestId, { kind: 'done', ev }));
  // Events sent while the link was down are lost: the columns cannot finish by themselves.
  onReconnected(() => {
    for (const k of order.value) {
      const o = outputs[k];
      if (o && (o.status === 'waiting' || o.status === 'running')) {
        Object.assign(o, { status: 'failed', finishedAt: performance.now(), error: 'the connection to the engine dropped while this answer was being generated; press Generate again' });
      }
    }
  });

  function request(c: Contender): GenerateRequest {
    const base = {
      model: modelId.value!,
      adapter: c.adapter,
      maxNewTokens: sampling.maxNewTokens,
      temperature: sampling.temperature,
      topK: sampling.topK,
      topP: sampling.topP,
      repetitionPenalty: sampling.repetitionPenalty,
      seed: sampling.seed,
      ...(sampling.stop.length ? { stop: [...sampling.stop] } : {}),
    };
    if (mode.value === 'chat') {
      const messages = [
        ...(systemPrompt.value.trim() ? [{ role: 'system' as const, content: systemPrompt.value }] : []),
        { role: 'user' as const, content: prompt.value },
      ];
      return { ...base, messages };
    }
    return { ...base, prompt: prompt.value };
  }

  /** Sends the prompt to every column, in column order. */
  async function generate(): Promise<void> {
    if (running.value || modelId.value === null || !prompt.value.trim()) return;
    cancelRequested.value = false;
    byRequest.clear();
    held.clear();
    const list = [...contenders.value];
    order.value = list.map((c) => c.key);
    const now = performance.now();
    for (const c of list) {
      Object.assign(outputs[c.key], emptyOutput(c.key), { status: 'waiting', startedAt: now, promptShown: mode.value === 'prompt' ? prompt.value : '' });
    }
    // One after another: the engine queues them in the order it receives them.
    for (const c of list) {
      const o = outputs[c.key];
      if (cancelRequested.value) {
        Object.assign(o, { status: 'cancelled', finishedAt: performance.now() });
        continue;
      }
      startsInFlight++;
      try {
        const { requestId } = await api.call('generate.start', request(c));
        o.requestId = requestId;
        byRequest.set(requestId, c.key);
        for (const item of held.get(requestId) ?? []) route(requestId, item);
        held.delete(requestId);
        if (cancelRequested.value) void api.call('generate.cancel', { requestId }).catch(() => undefined);
      } catch (err) {
        Object.assign(o, { status: 'failed', error: errorMessage(err), finishedAt: performance.now() });
      } finally {
        startsInFlight--;
        if (startsInFlight === 0) held.clear();
      }
    }
  }

  /** Stops the running request and drops the queued ones (their columns say "Cancelled"). */
  async function cancel(): Promise<void> {
    cancelRequested.value = true;
    const active = order.value.map((k) => outputs[k]).filter((o): o is Output => !!o && (o.status === 'waiting' || o.status === 'running'));
    for (const o of active) o.cancelRequested = true;
    await Promise.all(
      active.map(async (o) => {
        if (!o.requestId) return;
        try {
          await api.call('generate.cancel', { requestId: o.requestId });
        } catch (err) {
          o.error = `could not cancel: ${errorMessage(err)}`;
        }
      }),
    );
  }

  return {
    modelId,
    mode,
    prompt,
    systemPrompt,
    sampling,
    contenders,
    outputs,
    order,
    running,
    cancelRequested,
    waitingFor,
    addAdapter,
    removeContender,
    resetSampling,
    generate,
    cancel,
  };
});
