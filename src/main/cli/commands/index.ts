/** Every CLI command, in the order `lora-studio help` lists them. */
import type { Command } from '../command';
import { adaptersCommand } from './adapters';
import { exportCommand } from './export';
import { datasets } from './datasets';
import { doctor } from './doctor';
import { generateCommand } from './generate';
import { models } from './models';
import { serve } from './serve';
import { train } from './train';
import { runs } from './runs';

export const commands: Command[] = [serve, models, datasets, generateCommand, train, runs, adaptersCommand, exportCommand, doctor];
