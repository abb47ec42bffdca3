import type { Command } from '../command';
import { intOption, numberOption, parse } from '../command';
import { CliError } from '../context';
import { GenerateParams } from '../../../shared/contract/generate';
import { GenerationService } from '../../services/generation';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate text with a model (and optionally an adapter); greedy is temperature 0',
  usage: [
    'lora-studio generate --model ID|PATH [--adapter ID|PATH] (--prompt TEXT | --prompt-ids 1,2,3 | --chat TEXT)',
    '                     [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]',
    '                     [--seed S] [--stop STR]... [--json]',
    '  --chat TEXT   one user message, rendered with the model\'s chat template',
    '  --json        prints {"prompt_ids": [...], "generated_ids": [...], "text": "..."}',
  ],
  async run(ctx, argv) {
    const { values } = parse(
      argv,
      {
        model: { type: 'string' },
        adapter: { type: 'string' },
        prompt: { type: 'string' },
        'prompt-ids': { type: 'string' },
        chat: { type: 'string' },
        'max-new-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        seed: { type: 'string' },
        stop: { type: 'string', multiple: true },
      },
      false,
    );
    if (!values.model) throw new CliError('generate: --model ID|PATH is required', 2);
    let promptIds: number[] | undefined;
    if (values['prompt-ids'] !== undefined) {
      promptIds = values['prompt-ids'].split(',').map((s) => {
        const n = Number(s.trim());
        if (!Number.isInteger(n) || n < 0) throw new CliError(`--prompt-ids: "${s}" is not a token id`, 2);
        return n;
      });
    }
    const parsed = GenerateParams.safeParse({
      model: /^\d+$/.test(values.model) ? Number(values.model) : values.model,
      adapter: values.adapter === undefined ? undefined : /^\d+$/.test(values.adapter) ? Number(values.adapter) : values.adapter,
      prompt: values.prompt,
      promptIds,
      messages: values.chat === undefined ? undefined : [{ role: 'user', content: values.chat }],
      maxNewTokens: intOption(values['max-new-tokens'], 'max-new-tokens'),
      temperature: numberOption(values.temperature, 'temperature'),
      topK: intOption(values['top-k'], 'top-k'),
      topP: numberOption(values['top-p'], 'top-p'),
      repetitionPenalty: numberOption(values['repetition-penalty'], 'repetition-penalty'),
      seed: intOption(values.seed, 'seed'),
      stop: values.stop,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ` : '';
      throw new CliError(`generate: ${field}${issue.message.replace('promptIds', '--prompt-ids').replace('messages', '--chat')}`, 2);
    }
    const service = new GenerationService(ctx.engine());
    const streamed = !ctx.json && process.stdout.isTTY;
    const out = await service.run(parsed.data, undefined, streamed ? (_id, text) => process.stdout.write(text) : undefined);
    if (ctx.json) {
      ctx.print({ prompt_ids: out.promptIds, generated_ids: out.generatedIds, text: out.text, finish_reason: out.finishReason, backend: out.backend });
    } else {
      if (!streamed) process.stdout.write(out.text);
      process.stdout.write('\n');
      ctx.info(
        `[${out.generatedIds.length} tokens, ${out.finishReason}; prefill ${out.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${out.decodeTokensPerSecond.toFixed(1)} tok/s on ${out.backend}]`,
      );
    }
  },
};
