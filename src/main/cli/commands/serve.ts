import type { Command } from '../command';
import { intOption, parse } from '../command';

export const serve: Command = {
  name: 'serve',
  summary: 'Start the local web app (binds 127.0.0.1; prints a URL with an access token)',
  usage: ['lora-studio serve [--host H] [--port P] [--open]'],
  async run(ctx, argv) {
    const { values } = parse(argv, { host: { type: 'string' }, port: { type: 'string' }, open: { type: 'boolean' } }, false);
    const { startWebServer } = await import('../../web/server');
    const engine = ctx.engine();
    const server = await startWebServer(engine, { host: values.host ?? '127.0.0.1', port: intOption(values.port, 'port', 0) ?? 0 });
    ctx.print({ url: server.url, host: server.host, port: server.port, dataDir: engine.dataDir }, () => `LoRA Studio is running at:\n\n    ${server.url}\n\nData dir: ${engine.dataDir}\nPress Ctrl+C to stop.`);
    if (values.open) await server.openBrowser();
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
  },
};
