/** Every CLI command, in the order `lora-studio help` lists them. */
import type { Command } from '../command';
import { doctor } from './doctor';
import { generateCommand } from './generate';
import { models } from './models';
import { serve } from './serve';

export const commands: Command[] = [serve, models, generateCommand, doctor];
