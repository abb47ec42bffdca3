import type { AdapterSummary } from '../../../shared/contract';
import type { Command } from '../command';
import { intOption, parse, subcommand } from '../command';
import { CliError } from '../context';
import { AdapterLibrary } from '../../adapters/library';
import { formatBytes, table } from '../format';

const SUBCOMMANDS = ['list', 'show', 'import', 'check', 'svd', 'resize', 'combine', 'rename', 'tag', 'note', 'delete', 'reveal'];

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new CliError(`adapters ${what}: give one adapter id or name`, 2);
  return positionals[0];
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function summaryLine(a: AdapterSummary): string {
  return `Adapter ${a.id}: ${a.name} (${a.source}, base ${a.baseModelName ?? '?'}, r=${a.rank}, alpha=${a.alpha}, ${a.targets.join('+')}, ${formatBytes(a.sizeBytes)})\n  ${a.path}`;
}

export const adaptersCommand: Command = {
  name: 'adapters',
  summary: 'The adapter library: list, show, import a PEFT folder, SVD spectrum, resize, combine, rename/tag/note/delete',
  usage: [
    'lora-studio adapters list [--tag T] [--json]',
    'lora-studio adapters show A [--json]                      A: adapter id or name',
    'lora-studio adapters import DIR --model M [--name N] [--json]   M: model id or folder',
    'lora-studio adapters check DIR --model M [--json]         would DIR apply to M? (nothing stored)',
    'lora-studio adapters svd A [--top K] [--json]             singular values of ΔW = s·B·A per module',
    'lora-studio adapters resize A --rank R [--name N] [--json]',
    'lora-studio adapters combine A1:W1 A2:W2 ... [--rank R] [--name N] [--json]',
    'lora-studio adapters rename A NAME | tag A TAG... | note A TEXT | delete A | reveal A [--json]',
  ],
  run(ctx, argv) {
    const [sub, rest] = subcommand(argv, SUBCOMMANDS, 'adapters');
    const lib = new AdapterLibrary(ctx.engine());
    switch (sub) {
      case 'list': {
        const { values } = parse(rest, { tag: { type: 'string' } }, false);
        const list = lib.list({ tag: values.tag });
        ctx.print(list, () =>
          list.length === 0
            ? 'No adapters yet. Train one, or import a PEFT folder with `lora-studio adapters import DIR --model M`.'
            : table(
                ['ID', 'NAME', 'SOURCE', 'BASE', 'R', 'ALPHA', 'TARGETS', 'SIZE', 'TAGS'],
                list.map((a) => [a.id, a.name, a.source, a.baseModelName ?? '', a.rank, a.alpha, a.targets.join(','), formatBytes(a.sizeBytes), a.tags.join(',')]),
              ),
        );
        return;
      }
      case 'show': {
        const { positionals } = parse(rest, {});
        const d = lib.get(lib.resolve(one(positionals, 'show')).id);
        ctx.print(d, () =>
          [
            `${d.name} (adapter ${d.id}, ${d.source}${d.parentName ? ` of "${d.parentName}"` : ''})`,
            `  base model   ${d.baseModelName ?? 'unknown'}${d.baseModelPath ? ` (${d.baseModelPath})` : ''}`,
            `  rank/alpha   r=${d.rank}, alpha=${d.alpha}${d.rslora ? ', rsLoRA' : ''}`,
            `  targets      ${d.targets.join(', ')} in ${d.layers ? `layers ${d.layers.join(', ')}` : 'all layers'} (${d.modules} projections)`,
            `  template     ${d.template ? 'recorded (exports carry it)' : "the base model's"}`,
            `  size         ${formatBytes(d.sizeBytes)}, sha256 ${d.sha256}`,
            `  created      ${d.createdAt}${d.runId !== null ? `, run ${d.runId}` : ''}${d.datasetVersionId !== null ? `, dataset version ${d.datasetVersionId}` : ''}`,
            `  tags         ${d.tags.join(', ') || '-'}`,
            `  notes        ${d.notes || '-'}`,
            `  folder       ${d.path}`,
            ...d.files.map((f) => `    ${f.name.padEnd(28)} ${formatBytes(f.sizeBytes)}`),
            ...(d.children.length ? [`  derived      ${d.children.map((c) => `${c.id} ${c.name} (${c.source})`).join('; ')}`] : []),
          ].join('\n'),
        );
        return;
      }
      case 'import':
      case 'check': {
        const { values, positionals } = parse(rest, { model: { type: 'string' }, name: { type: 'string' } });
        if (positionals.length !== 1) throw new CliError(`adapters ${sub}: give one adapter folder`, 2);
        if (!values.model) throw new CliError(`adapters ${sub}: --model ID|PATH is required (the base model the adapter is for)`, 2);
        const model = /^\d+$/.test(values.model) ? Number(values.model) : values.model;
        if (sub === 'check') {
          const r = lib.check(positionals[0], model);
          ctx.print(r, () =>
            r.ok
              ? `OK: ${r.modules} projections (${r.targets.join(', ')}, ${r.layers ? `layers ${r.layers.join(',')}` : 'all layers'}), r=${r.rank}, alpha=${r.alpha}`
              : `Refused:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`,
          );
          if (!r.ok && !ctx.json) throw new CliError('the adapter does not apply to this model', 1);
          return;
        }
        const a = lib.import(positionals[0], model, values.name);
        ctx.print(a, () => `Imported. ${summaryLine(a)}`);
        return;
      }
      case 'svd': {
        const { values, positionals } = parse(rest, { top: { type: 'string' } });
        const a = lib.resolve(one(positionals, 'svd'));
        const top = intOption(values.top, 'top', 4) as number;
        const s = lib.svd(a.id);
        ctx.print(s, () =>
          [
            `Singular values of ΔW = s·B·A for adapter ${a.id} (${a.name}); energy = share of ‖ΔW‖² in the top k`,
            table(
              ['MODULE', 'R', ...Array.from({ length: top }, (_, i) => `σ${i + 1}`), `E@1`, `E@${Math.max(1, Math.floor(a.rank / 2))}`, 'EFF.RANK', 'R90', 'R99'],
              s.modules.map((m) => [
                m.module,
                m.r,
                ...Array.from({ length: top }, (_, i) => (m.singularValues[i] ?? 0).toPrecision(3)),
                pct(m.energy[0] ?? 0),
                pct(m.energy[Math.max(0, Math.floor(a.rank / 2) - 1)] ?? 1),
                m.effectiveRank.toFixed(2),
                m.rank90,
                m.rank99,
              ]),
            ),
            `Mean effective rank ${s.meanEffectiveRank.toFixed(2)}; mean rank for 90% energy ${s.meanRank90.toFixed(2)}`,
            `Mean energy kept if cut to rank k: ${s.meanEnergyAtRank.map((e, k) => `k=${k + 1} ${pct(e)}`).join(', ')}`,
          ].join('\n'),
        );
        return;
      }
      case 'resize': {
        const { values, positionals } = parse(rest, { rank: { type: 'string' }, name: { type: 'string' } });
        const a = lib.resolve(one(positionals, 'resize'));
        const rank = intOption(values.rank, 'rank');
        if (rank === undefined) throw new CliError('adapters resize: --rank R is required', 2);
        const r = lib.resize(a.id, rank, values.name);
        ctx.print(r, () =>
          [
            `Resized adapter ${a.id} to rank ${rank}. ${summaryLine(r.adapter)}`,
            table(['MODULE', 'FROM', 'TO', 'ENERGY KEPT', 'σ(r+1)/σ1'], r.modules.map((m) => [m.module, m.fromRank, m.toRank, pct(m.energyKept), m.droppedRatio.toFixed(3)])),
            `Energy kept: mean ${pct(r.meanEnergyKept)}, lowest ${pct(r.minEnergyKept)}`,
          ].join('\n'),
        );
        return;
      }
      case 'combine': {
        const { values, positionals } = parse(rest, { rank: { type: 'string' }, name: { type: 'string' } });
        if (positionals.length < 2) throw new CliError('adapters combine: give at least two A:W pairs, e.g. 3:0.7 5:0.3', 2);
        const items = positionals.map((p) => {
          const i = p.lastIndexOf(':');
          if (i <= 0) throw new CliError(`adapters combine: "${p}" is not A:WEIGHT`, 2);
          const weight = Number(p.slice(i + 1));
          if (!Number.isFinite(weight)) throw new CliError(`adapters combine: weight "${p.slice(i + 1)}" is not a number`, 2);
          return { id: lib.resolve(p.slice(0, i)).id, weight };
        });
        const r = lib.combine(items, intOption(values.rank, 'rank'), values.name);
        ctx.print(r, () =>
          [
            `Combined ${items.map((i) => `${i.id}×${i.weight}`).join(' + ')}. ${summaryLine(r.adapter)}`,
            table(['MODULE', 'CONCAT RANK', 'RANK', 'ENERGY KEPT'], r.modules.map((m) => [m.module, m.concatRank, m.rank, pct(m.energyKept)])),
          ].join('\n'),
        );
        return;
      }
      case 'rename': {
        const { positionals } = parse(rest, {});
        if (positionals.length !== 2) throw new CliError('adapters rename: give an adapter and the new name', 2);
        const a = lib.rename(lib.resolve(positionals[0]).id, positionals[1]);
        ctx.print(a, () => `Renamed. ${summaryLine(a)}`);
        return;
      }
      case 'tag': {
        const { positionals } = parse(rest, {});
        if (positionals.length < 1) throw new CliError('adapters tag: give an adapter and its tags (none clears them)', 2);
        const a = lib.setTags(lib.resolve(positionals[0]).id, positionals.slice(1));
        ctx.print(a, () => `Tags of adapter ${a.id}: ${a.tags.join(', ') || '(none)'}`);
        return;
      }
      case 'note': {
        const { positionals } = parse(rest, {});
        if (positionals.length !== 2) throw new CliError('adapters note: give an adapter and the note text', 2);
        const a = lib.setNotes(lib.resolve(positionals[0]).id, positionals[1]);
        ctx.print(a, () => `Notes of adapter ${a.id} saved.`);
        return;
      }
      case 'delete': {
        const { positionals } = parse(rest, {});
        const r = lib.delete(lib.resolve(one(positionals, 'delete')).id);
        ctx.print(r, () => `Deleted adapter ${r.id}${r.filesDeleted ? ` and its folder ${r.path}` : ` (its folder ${r.path} is outside the data dir and was kept)`}`);
        return;
      }
      case 'reveal': {
        const { positionals } = parse(rest, {});
        const r = lib.reveal(lib.resolve(one(positionals, 'reveal')).id);
        ctx.print(r, () => (r.opened ? `Opened ${r.path}` : r.path));
        return;
      }
    }
  },
};
