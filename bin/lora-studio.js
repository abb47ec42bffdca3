#!/usr/bin/env node
// The `lora-studio` command: runs the TypeScript CLI through tsx's loader (no build step needed).
import { register } from 'tsx/esm/api';

register();
await import('../src/main/cli/run.ts');
