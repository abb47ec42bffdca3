import type { Command } from '../command';
import { parse } from '../command';
import { systemStatus } from '../../services/system';

export const doctor: Command = {
  name: 'doctor',
  summary: 'Check Node, Electron, every ML backend, the data dir and the database',
  usage: ['lora-studio doctor [--json]'],
  async run(ctx, argv) {
    parse(argv, {}, false);
    const s = await systemStatus(ctx.engine());
    ctx.print(s, () => {
      const lines = [
        `LoRA Studio ${s.version}`,
        `  node        ${s.node} (${s.platform}, ${s.cpus} cores, ${(s.memory.totalBytes / 2 ** 30).toFixed(1)} GiB)`,
        `  electron    ${s.electron.available ? `available (${s.electron.version})` : `not available: ${s.electron.reason}`}`,
        `  data dir    ${s.dataDir}`,
        `  database    ${s.db.path} (version ${s.db.version} of ${s.db.latest})`,
        `  backends    (fastest first)`,
        ...s.backends.map((b) => `    ${b.available ? '✓' : '✗'} ${b.name.padEnd(16)} ${b.available ? b.label : b.reason}`),
        `  compute on  ${s.backend.name}${s.backend.forced ? ' (forced in settings)' : ''}`,
      ];
      return lines.join('\n');
    });
  },
};
