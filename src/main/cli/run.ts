/** Process entry for the CLI (bin/lora-studio.js loads this through tsx). */
import { main } from './index';

const code = await main(process.argv.slice(2));
// Exit explicitly: optional ML backends may leave worker threads that would keep Node alive.
process.exit(code);
