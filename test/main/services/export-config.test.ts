/** `runs export-config`: Axolotl's config names, a TRL script that parses, a dataset that re-imports to the same rows. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportArgs, RunConfig } from '../../../src/shared/contract';
import type { Engine } from '../../../src/main/engine';
import { exportRunConfig } from '../../../src/main/services/export-config';
import { datasetsService } from '../../../src/main/services/datasets';
import { createDatasetsRepo } from '../../../src/main/storage/repos/datasets';
import { createRunsRepo } from '../../../src/main/storage/repos/runs';
import { addDataset, addTinyLlama, tempEngine } from '../trainer/setup';

/**
 * Option names from Axolotl's config reference (docs/config-reference.qmd, AxolotlInputConfig and
 * SFTDataset), the ones an exported LoRA fine-tune may use.
 */
const AXOLOTL_KEYS = new Set([
  'base_model', 'datasets', 'chat_template', 'chat_template_jinja', 'val_set_size', 'output_dir', 'sequence_len',
  'sample_packing', 'pad_to_sequence_len', 'group_by_length', 'train_on_inputs', 'adapter', 'lora_r', 'lora_alpha',
  'lora_dropout', 'lora_target_modules', 'lora_fan_in_fan_out', 'peft_use_rslora', 'peft_layers_to_transform',
  'peft_init_lora_weights', 'micro_batch_size', 'gradient_accumulation_steps', 'num_epochs', 'max_steps', 'optimizer',
  'adam_beta1', 'adam_beta2', 'adam_epsilon', 'weight_decay', 'max_grad_norm', 'learning_rate', 'lr_scheduler',
  'warmup_steps', 'eval_steps', 'save_steps', 'early_stopping_patience', 'seed', 'bf16', 'gradient_checkpointing',
  'logging_steps',
]);
const AXOLOTL_DATASET_KEYS = new Set(['path', 'ds_type', 'type', 'field_messages', 'roles_to_train', 'train_on_eos', 'field', 'chat_template', 'chat_template_jinja']);

let engine: Engine;
let runId: number;
let versionId: number;

beforeAll(() => {
  engine = tempEngine();
  const modelId = addTinyLlama(engine);
  const datasetId = addDataset(engine, 'reverse', 9, 2);
  versionId = createDatasetsRepo(engine.db).version(datasetId)!.id;
  const config = RunConfig.parse({
    model: modelId, dataset: datasetId, template: 'alpaca', targets: ['q_proj', 'down_proj'], layers: [1], rank: 4, alpha: 8,
    rslora: true, init: 'pissa', lr: 2e-5, eps: 1e-8, scheduler: 'linear', warmup: 3, epochs: 2, batchSize: 2, gradAccum: 4,
    seqLen: 256, evalSplit: 0.2, evalEvery: 5, earlyStopPatience: 2, seed: 7,
  });
  runId = createRunsRepo(engine.db).create({ name: 'r', modelId, datasetVersionId: versionId, parentAdapterId: null, config, template: 'alpaca', ownerPid: process.pid, estimate: null }).id;
});
afterAll(() => engine.close());

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'export-config-'));

describe('runs export-config', () => {
  it('writes an Axolotl config with only documented option names and the run\'s values', () => {
    const out = tmp();
    const r = exportRunConfig(engine, runId, 'axolotl', out);
    expect(r.files.sort()).toEqual(['config.yml', 'dataset.jsonl']);
    const cfg = yaml.load(fs.readFileSync(path.join(out, 'config.yml'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(cfg).filter((k) => !AXOLOTL_KEYS.has(k))).toEqual([]);
    const ds = (cfg.datasets as Record<string, unknown>[])[0];
    expect(Object.keys(ds).filter((k) => !AXOLOTL_DATASET_KEYS.has(k))).toEqual([]);
    expect(cfg).toMatchObject({
      lora_r: 4, lora_alpha: 8, lora_target_modules: ['q_proj', 'down_proj'], peft_layers_to_transform: [1], peft_use_rslora: true,
      peft_init_lora_weights: 'pissa', learning_rate: 2e-5, adam_epsilon: 1e-8, lr_scheduler: 'linear', warmup_steps: 3,
      num_epochs: 2, micro_batch_size: 2, gradient_accumulation_steps: 4, sequence_len: 256, val_set_size: 0.2, eval_steps: 5,
      early_stopping_patience: 2, seed: 7, train_on_inputs: false, chat_template: 'jinja',
    });
    expect(String(cfg.chat_template_jinja)).toContain('### Instruction:');
    expect(ds).toMatchObject({ path: 'dataset.jsonl', type: 'chat_template', field_messages: 'messages', roles_to_train: ['assistant'] });
    // YAML 1.1 readers (PyYAML, which Axolotl uses) need a dot and a signed exponent (spec's float regex)
    const eps = /^adam_epsilon: (.*)$/m.exec(fs.readFileSync(path.join(out, 'config.yml'), 'utf8'))![1];
    expect(eps).toMatch(/^[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?$/);
  });

  it('exports the dataset so that it re-imports to the same rows', async () => {
    const out = tmp();
    exportRunConfig(engine, runId, 'axolotl', out);
    const back = await datasetsService(engine).import(ImportArgs.parse({ path: path.join(out, 'dataset.jsonl'), name: 'reimported' }));
    const repo = createDatasetsRepo(engine.db);
    const rows = (id: number) => [...repo.iterateRows(id)].map((r) => JSON.parse(r.dataJson));
    expect(rows(back.versionId)).toEqual(rows(versionId));
    expect(back.rows).toBe(9);
  });

  it('writes a TRL + PEFT script that Python parses, with an accelerate launch line', () => {
    const out = tmp();
    exportRunConfig(engine, runId, 'trl', out);
    const script = fs.readFileSync(path.join(out, 'train.py'), 'utf8');
    execFileSync('python3', ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', path.join(out, 'train.py')]);
    expect(script).toMatch(/r=4,\n\s+lora_alpha=8,/);
    expect(script).toContain('target_modules=["q_proj","down_proj"]');
    expect(script).toContain('layers_to_transform=[1]');
    expect(script).toContain('use_rslora=True');
    expect(script).toContain('init_lora_weights="pissa"');
    expect(script).toContain('gradient_accumulation_steps=4');
    expect(fs.readFileSync(path.join(out, 'launch.sh'), 'utf8')).toMatch(/accelerate launch --multi_gpu train\.py/);
    expect(() => exportRunConfig(engine, runId, 'trl', out)).toThrow(/not empty/);
  });
});
