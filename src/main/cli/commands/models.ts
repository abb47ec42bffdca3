import type { Command } from '../command';
import { parse, subcommand } from '../command';
import { CliError } from '../context';
import { ModelsService } from '../../services/models';
import { formatBytes, formatCount, table } from '../format';

export const models: Command = {
  name: 'models',
  summary: 'The model library: add a folder, list, show a model card, scan the Hugging Face cache',
  usage: [
    'lora-studio models add PATH [--name N] [--json]',
    'lora-studio models list [--json]',
    'lora-studio models show ID|PATH [--json]',
    'lora-studio models scan [--add] [--json]     models in $HF_HOME/hub (or ~/.cache/huggingface/hub)',
    'lora-studio models remove ID [--json]',
  ],
  run(ctx, argv) {
    const [sub, rest] = subcommand(argv, ['add', 'list', 'show', 'scan', 'remove'], 'models');
    const service = new ModelsService(ctx.engine());
    switch (sub) {
      case 'add': {
        const { values, positionals } = parse(rest, { name: { type: 'string' } });
        if (positionals.length !== 1) throw new CliError('models add: give exactly one folder path', 2);
        const m = service.add(positionals[0], values.name);
        ctx.print(m, `Added model ${m.id}: ${m.name} (${m.modelType}, ${formatCount(m.params)} parameters, ${formatBytes(m.sizeBytes)})`);
        return;
      }
      case 'list': {
        parse(rest, {}, false);
        const list = service.list();
        ctx.print(list, () =>
          list.length === 0
            ? 'No models yet. Add one with `lora-studio models add PATH` or find cached ones with `lora-studio models scan`.'
            : table(
                ['ID', 'NAME', 'TYPE', 'PARAMS', 'DTYPE', 'SIZE', 'SOURCE', 'PATH'],
                list.map((m) => [m.id, m.name, m.modelType, formatCount(m.params), m.dtype ?? '', formatBytes(m.sizeBytes), m.source, m.path]),
              ),
        );
        return;
      }
      case 'show': {
        const { positionals } = parse(rest, {});
        if (positionals.length !== 1) throw new CliError('models show: give one model id or folder path', 2);
        const c = service.show(positionals[0]);
        ctx.print(c, () =>
          [
            `${c.name}${c.id ? ` (id ${c.id})` : ''}`,
            `  path          ${c.path}`,
            `  architecture  ${c.architecture} (model_type ${c.modelType})`,
            `  parameters    ${formatCount(c.params)} (${c.params})`,
            `  layers        ${c.layers}`,
            `  hidden size   ${c.hiddenSize} (intermediate ${c.intermediateSize})`,
            `  heads         ${c.heads} query / ${c.kvHeads} key-value, head size ${c.headDim}`,
            `  vocabulary    ${c.vocabSize}`,
            `  context       ${c.contextLength} tokens`,
            `  dtype         ${c.dtype ?? 'unknown'}; size on disk ${formatBytes(c.sizeBytes)}`,
            `  embeddings    ${c.tiedEmbeddings ? 'tied to the output head' : 'separate output head'}`,
            `  chat template ${c.hasChatTemplate ? 'yes' : 'no (a built-in template will be used)'}`,
            `  LoRA targets  (per layer, × ${c.layers} layers)`,
            ...c.modules.map((m) => `    ${m.name.padEnd(10)} ${m.inFeatures} → ${m.outFeatures}`),
          ].join('\n'),
        );
        return;
      }
      case 'scan': {
        const { values } = parse(rest, { add: { type: 'boolean' } }, false);
        let found = service.scan();
        if (values.add) {
          for (const f of found.filter((x) => x.registeredId === null)) {
            try {
              service.add(f.path, f.repoId, 'hf-cache');
            } catch (err) {
              ctx.info(`skipped ${f.repoId}: ${(err as Error).message}`);
            }
          }
          found = service.scan();
        }
        ctx.print(found, () =>
          found.length === 0
            ? 'No safetensors models found in the Hugging Face cache.'
            : table(['REPO', 'REGISTERED', 'PATH'], found.map((f) => [f.repoId, f.registeredId ?? '-', f.path])),
        );
        return;
      }
      case 'remove': {
        const { positionals } = parse(rest, {});
        const id = Number(positionals[0]);
        if (!Number.isInteger(id)) throw new CliError('models remove: give a model id', 2);
        const removed = service.remove(id);
        if (!removed) throw new CliError(`no model with id ${id}`);
        ctx.print({ removed }, `Removed model ${id} from the library (its files were not touched).`);
      }
    }
  },
};
