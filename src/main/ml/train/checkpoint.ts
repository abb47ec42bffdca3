/**
 * Training checkpoints: everything needed to continue a run as if it had never stopped.
 *
 *   <dir>/adapter/                      the adapter so far, in PEFT format (usable on its own)
 *   <dir>/training_state.safetensors    raw lora_A/lora_B, AdamW moments (`<name>.exp_avg`,
 *                                       `<name>.exp_avg_sq`), PiSSA step-0 factors (`<name>.initial`)
 *   <dir>/trainer_state.json            step, epoch, data plan and cursor, Rng state, early-stop
 *                                       counters, the adapter spec, and the caller's extra fields
 *
 * The folder is written beside its final name and renamed into place (AtomicDirWriter), so a
 * crash or kill -9 mid-write leaves the previous checkpoints intact and never a partial one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AtomicDirWriter } from '../../storage/files';
import { peftKey, type Factors } from '../lora/adapter';
import { exportableAdapter, writeAdapterFiles, type SaveOptions } from '../lora/peft';
import type { LoraSpec } from '../lora/spec';
import { SafetensorsReader, writeSafetensors, type TensorToWrite } from '../safetensors';
import type { LoopState, Trainer } from './trainer';

export const TRAINER_STATE = 'trainer_state.json';
export const TRAINING_STATE = 'training_state.safetensors';
export const ADAPTER_DIR = 'adapter';

const LoopStateSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  cursor: z.number().int().nonnegative(),
  plan: z.array(z.array(z.number().int().nonnegative())),
  rng: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  bestEvalLoss: z.number().nullable(),
  evalsWithoutImprovement: z.number().int().nonnegative(),
  tokensSeen: z.number().nonnegative(),
  stoppedEarly: z.boolean(),
});

const TrainerStateSchema = z.object({
  format: z.literal('lora-studio-checkpoint-1'),
  loop: LoopStateSchema,
  optimizerStep: z.number().int().nonnegative(),
  spec: z.object({
    r: z.number(),
    alpha: z.number(),
    dropout: z.number(),
    rslora: z.boolean(),
    targets: z.array(z.string()),
    layers: z.array(z.number()).nullable(),
    rankPattern: z.record(z.string(), z.number()),
    alphaPattern: z.record(z.string(), z.number()),
    init: z.enum(['default', 'gaussian', 'pissa']),
  }),
  /** Module paths in adapter order, with their ranks and sizes. */
  modules: z.array(z.object({ name: z.string(), r: z.number(), inFeatures: z.number(), outFeatures: z.number() })),
  extra: z.record(z.string(), z.unknown()),
});

export type TrainerStateFile = z.infer<typeof TrainerStateSchema>;

export interface CheckpointContents {
  state: TrainerStateFile;
  spec: LoraSpec;
  factors: Factors;
  pissaInitial: Factors | null;
  optimizer: { step: number; m: Float32Array[]; v: Float32Array[] };
}

export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

/** Writes the trainer's checkpoint to `dir` (replacing an older one of that name). */
export function saveCheckpoint(dir: string, trainer: Trainer, adapterOpts: SaveOptions, extra: Record<string, unknown> = {}): void {
  const adapter = trainer.adapter;
  fs.rmSync(`${dir}.new`, { recursive: true, force: true }); // left by a crash mid-write
  const out = new AtomicDirWriter(`${dir}.new`);
  try {
    fs.mkdirSync(out.path(ADAPTER_DIR));
    const exported = exportableAdapter(adapter);
    writeAdapterFiles(out.path(ADAPTER_DIR), exported.spec, exported.factors, exported.ranks, adapter.layers, adapterOpts);

    const factors = adapter.factors();
    const opt = trainer.optimizer.state();
    const tensors: TensorToWrite[] = [];
    adapter.layers.forEach((l, i) => {
      const f = factors.get(l.name)!;
      const shapes = { A: [l.r, l.inFeatures], B: [l.outFeatures, l.r] } as const;
      for (const [which, data, k] of [['A', f.a, 2 * i], ['B', f.b, 2 * i + 1]] as const) {
        const key = peftKey(l.name, which);
        const shape = [...shapes[which]];
        tensors.push({ name: key, dtype: 'F32', shape, data });
        tensors.push({ name: `${key}.exp_avg`, dtype: 'F32', shape, data: opt.m[k] });
        tensors.push({ name: `${key}.exp_avg_sq`, dtype: 'F32', shape, data: opt.v[k] });
        const init = adapter.initialFactors?.get(l.name);
        if (init) tensors.push({ name: `${key}.initial`, dtype: 'F32', shape, data: which === 'A' ? init.a : init.b });
      }
    });
    writeSafetensors(out.path(TRAINING_STATE), tensors);

    const state: TrainerStateFile = {
      format: 'lora-studio-checkpoint-1',
      loop: trainer.loopState(),
      optimizerStep: opt.step,
      spec: adapter.spec,
      modules: adapter.layers.map((l) => ({ name: l.name, r: l.r, inFeatures: l.inFeatures, outFeatures: l.outFeatures })),
      extra,
    };
    fs.writeFileSync(out.path(TRAINER_STATE), JSON.stringify(state) + '\n');
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
  // Swap in: an older folder of the same name (a resumed run passing the same step) goes last.
  const old = `${dir}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(`${dir}.new`, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Reads a checkpoint folder written by saveCheckpoint. */
export function readCheckpoint(dir: string): CheckpointContents {
  const stateFile = path.join(dir, TRAINER_STATE);
  if (!fs.existsSync(stateFile)) throw new CheckpointFormatError(`${dir}: not a checkpoint (no ${TRAINER_STATE})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch (err) {
    throw new CheckpointFormatError(`${stateFile}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = TrainerStateSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new CheckpointFormatError(`${stateFile}: field "${i.path.join('.')}": ${i.message}`);
  }
  const state = parsed.data;
  const reader = SafetensorsReader.open(path.join(dir, TRAINING_STATE));
  try {
    const factors: Factors = new Map();
    const initial: Factors = new Map();
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (const mod of state.modules) {
      const ka = peftKey(mod.name, 'A');
      const kb = peftKey(mod.name, 'B');
      factors.set(mod.name, { a: reader.readFloat32(ka), b: reader.readFloat32(kb) });
      for (const k of [ka, kb]) {
        m.push(reader.readFloat32(`${k}.exp_avg`));
        v.push(reader.readFloat32(`${k}.exp_avg_sq`));
      }
      if (reader.tensors.has(`${ka}.initial`)) initial.set(mod.name, { a: reader.readFloat32(`${ka}.initial`), b: reader.readFloat32(`${kb}.initial`) });
    }
    return {
      state,
      spec: state.spec,
      factors,
      pissaInitial: initial.size ? initial : null,
      optimizer: { step: state.optimizerStep, m, v },
    };
  } finally {
    reader.close();
  }
}

export type { LoopState };
