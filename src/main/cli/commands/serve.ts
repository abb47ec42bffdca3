import type { Command } from '../command';
import { intOption, parse } from '../command';
import { CliError } from '../context';
import { openEngine } from '../../bootstrap';
import { startWebServer } from '../../web/server';

export const serve: Command = {
  name: 'serve',
  summary: 'Start the local web app (binds 127.0.0.1; prints a URL with an access token)',
  usage: ['lora-studio serve [--host H] [--port P] [--open]', '  --open  also open the URL in the system browser when a display is available'],
  async run(ctx, argv) {
    const { values } = parse(argv, { host: { type: 'string' }, port: { type: 'string' }, open: { type: 'boolean' } }, false);
    const port = intOption(values.port, 'port', 0) ?? 0;
    if (port < 0 || port > 65535) throw new CliError(`--port must be between 0 and 65535, got ${port}`, 2);
    // The engine reports the shell it runs in (status panel), so it is opened as 'web', not through ctx.engine().
    const engine = openEngine({ dataDir: ctx.dataDir, shell: 'web' });
    try {
      const server = await startWebServer(engine, { host: values.host ?? '127.0.0.1', port, log: (line) => ctx.info(line) });
      ctx.print(
        { url: server.url, host: server.host, port: server.port, dataDir: engine.dataDir },
        () => `LoRA Studio is running at:\n\n    ${server.url}\n\nData dir: ${engine.dataDir}\nPress Ctrl+C to stop.`,
      );
      if (values.open) {
        const opened = await server.openBrowser();
        if (!opened.opened) ctx.info(`Not opening a browser: ${opened.reason}. Open the URL above yourself.`);
      }
      // `on`, not `once`: `npm start` forwards the signal the terminal already sent, and a second
      // SIGINT must not kill the process before the server has closed.
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => resolve());
      });
      await server.close();
    } finally {
      await engine.close();
    }
  },
};
