/** Text generation for the playground: streamed tokens, base model and adapters side by side. */
import { z } from 'zod';
import { call, event } from './define';
import { ModelRef } from './models';

export const ChatMessageSchema = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).strict();

export const GenerateParams = z
  .object({
    model: ModelRef,
    /** Adapter id from the library, or an adapter folder path; null/absent = the base model. */
    adapter: z.union([z.number().int().positive(), z.string().min(1)]).nullable().optional(),
    /** Exactly one of prompt (raw text), messages (rendered with the model's chat template) or promptIds. */
    prompt: z.string().optional(),
    messages: z.array(ChatMessageSchema).min(1).optional(),
    promptIds: z.array(z.number().int().nonnegative()).min(1).optional(),
    maxNewTokens: z.number().int().positive().max(4096).default(64),
    temperature: z.number().min(0).max(5).default(0),
    topK: z.number().int().min(0).default(0),
    topP: z.number().gt(0).max(1).default(1),
    repetitionPenalty: z.number().positive().max(10).default(1),
    seed: z.number().int().min(0).default(0),
    stop: z.array(z.string().min(1)).max(16).optional(),
  })
  .strict()
  .refine((p) => [p.prompt, p.messages, p.promptIds].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of prompt, messages or promptIds',
  });

export type GenerateRequest = z.input<typeof GenerateParams>;

export interface GenerateOutcome {
  requestId: string;
  promptIds: number[];
  generatedIds: number[];
  text: string;
  /** The prompt as the model saw it (after the chat template), for display. */
  promptText: string;
  finishReason: 'eos' | 'stop' | 'length' | 'aborted';
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  backend: string;
}

export const generateCalls = {
  /** Starts a generation; tokens arrive as `generate.token` events, the end as `generate.done`. */
  'generate.start': call<{ requestId: string }>()(GenerateParams),
  'generate.cancel': call<{ cancelled: boolean }>()(z.object({ requestId: z.string().min(1) }).strict()),
};

export const generateEvents = {
  'generate.token': event<{ requestId: string; tokenId: number | null; text: string }>(),
  'generate.done': event<GenerateOutcome & { error?: string }>(),
};
