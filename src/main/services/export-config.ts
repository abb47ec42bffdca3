/**
 * "When one machine is not enough": a run's fine-tune written for other engines, so the same job
 * runs on a multi-GPU cluster.
 *
 *  - axolotl: `config.yml` (Axolotl's documented config names) + `dataset.jsonl`
 *  - trl: `train.py` (TRL's SFTTrainer with a PEFT LoraConfig) + `dataset.jsonl` + `launch.sh`
 *    (`accelerate launch`)
 *
 * The dataset is the run's dataset version, row for row, in the shape both engines read and the
 * studio imports back: OpenAI-style `{"messages": [...]}` or `{"text": ...}`. The template the
 * run used goes along: the model's own (`tokenizer_default`) or the built-in's Jinja source.
 * Everything else (targets, layers, r, alpha, dropout, rsLoRA, init, optimizer, schedule, batch,
 * accumulation, sequence length, seed) is copied from the run config. Both produce a PEFT adapter,
 * which the adapter library imports.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunConfigParsed } from '../../shared/contract/runs';
import type { Engine } from '../engine';
import { NotFoundError, UserError } from '../errors';
import { builtinTemplate, isTemplateChoice } from '../datasets/templates';
import { readConfigJson } from '../ml/config';
import { writeFileAtomic } from '../storage/files';
import { createDatasetsRepo } from '../storage/repos/datasets';
import { createRunsRepo } from '../storage/repos/runs';
import { defaultTargets } from '../trainer/spec';
import { ModelsService } from './models';

export type ExportTarget = 'axolotl' | 'trl';

export interface ExportedConfig {
  dir: string;
  files: string[];
  rows: number;
}

const SCHEDULERS: Record<RunConfigParsed['scheduler'], string> = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' };

/** YAML for plain data (objects, arrays, scalars); strings as JSON strings, valid YAML double-quoted scalars. */
export function toYaml(obj: Record<string, unknown>, indent = ''): string[] {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) lines.push(`${indent}${k}: []`);
      else {
        lines.push(`${indent}${k}:`);
        for (const item of v) {
          if (isObject(item)) {
            const inner = toYaml(item, indent + '    ');
            lines.push(`${indent}  - ${inner[0].trimStart()}`, ...inner.slice(1));
          } else lines.push(`${indent}  - ${scalar(item)}`);
        }
      }
    } else if (isObject(v)) {
      lines.push(`${indent}${k}:`, ...toYaml(v, indent + '  '));
    } else lines.push(`${indent}${k}: ${scalar(v)}`);
  }
  return lines;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && /e/i.test(String(v))) {
    // YAML 1.1 readers (PyYAML) take 1e-8 for a string: a float needs a dot and a signed exponent.
    const [m, e] = v.toExponential().split('e');
    return `${m.includes('.') ? m : m + '.0'}e${e.startsWith('-') ? e : '+' + e.replace('+', '')}`;
  }
  return String(v);
}

function yamlDocument(header: string, obj: Record<string, unknown>): string {
  return `${header}\n${toYaml(obj).join('\n')}\n`;
}

export function exportRunConfig(engine: Engine, runId: number, to: ExportTarget, outDir: string): ExportedConfig {
  const run = createRunsRepo(engine.db).get(runId);
  if (!run) throw new NotFoundError(`no run with id ${runId}`);
  if (run.datasetVersionId === null) throw new UserError(`run ${runId} has no dataset version (it was deleted)`);
  const c = run.config;
  const { dir: modelDir, row: modelRow } = new ModelsService(engine).resolve(run.modelId ?? c.model);
  const modelType = readConfigJson(modelDir).modelType;
  const baseModel = modelRow?.path ?? modelDir;
  fs.mkdirSync(outDir, { recursive: true });
  if (fs.readdirSync(outDir).length > 0) throw new UserError(`${outDir}: folder is not empty`);

  // The dataset, row for row, in the normalised shapes both engines read.
  const repo = createDatasetsRepo(engine.db);
  const version = repo.versionById(run.datasetVersionId);
  if (!version) throw new UserError(`run ${runId}: its dataset version ${run.datasetVersionId} is gone`);
  const lines: string[] = [];
  let chat = 0;
  for (const row of repo.iterateRows(version.id)) {
    const ex = JSON.parse(row.dataJson) as { messages?: { role: string; content: string }[]; text?: string };
    if (ex.messages) {
      chat++;
      lines.push(JSON.stringify({ messages: ex.messages.map((m) => ({ role: m.role, content: m.content })) }));
    } else lines.push(JSON.stringify({ text: ex.text ?? '' }));
  }
  if (chat !== 0 && chat !== lines.length) throw new UserError(`run ${runId}: its dataset mixes conversations and plain texts, which one export file cannot hold`);
  const isChat = chat > 0;
  writeFileAtomic(path.join(outDir, 'dataset.jsonl'), lines.join('\n') + '\n');

  const template = c.template && isTemplateChoice(c.template) && c.template !== 'model' ? builtinTemplate(c.template).source : null;
  const targets = c.targets ?? defaultTargets(modelType);
  const layers = c.layers === 'all' ? null : c.layers;
  const evalShare = c.evalSplit ?? version.evalFraction;
  const init = c.init === 'default' ? undefined : c.init;
  const files = ['dataset.jsonl'];

  if (to === 'axolotl') {
    const config: Record<string, unknown> = {
      base_model: baseModel,
      datasets: [
        isChat
          ? { path: 'dataset.jsonl', ds_type: 'json', type: 'chat_template', field_messages: 'messages', roles_to_train: c.completionOnly ? ['assistant'] : ['system', 'user', 'assistant'], train_on_eos: 'turn' }
          : { path: 'dataset.jsonl', ds_type: 'json', type: 'completion', field: 'text' },
      ],
      chat_template: isChat ? (template ? 'jinja' : 'tokenizer_default') : undefined,
      chat_template_jinja: isChat && template ? template : undefined,
      val_set_size: evalShare,
      output_dir: './lora-out',
      sequence_len: c.seqLen,
      sample_packing: false,
      pad_to_sequence_len: false,
      group_by_length: c.groupByLength,
      train_on_inputs: !c.completionOnly,
      adapter: 'lora',
      lora_r: c.rank,
      lora_alpha: c.alpha,
      lora_dropout: c.dropout,
      lora_target_modules: targets,
      lora_fan_in_fan_out: modelType === 'gpt2' ? true : undefined,
      peft_use_rslora: c.rslora,
      peft_layers_to_transform: layers ?? undefined,
      peft_init_lora_weights: init,
      micro_batch_size: c.batchSize,
      gradient_accumulation_steps: c.gradAccum,
      num_epochs: c.maxSteps ? undefined : c.epochs,
      max_steps: c.maxSteps,
      optimizer: 'adamw_torch',
      adam_beta1: c.beta1,
      adam_beta2: c.beta2,
      adam_epsilon: c.eps,
      weight_decay: c.weightDecay,
      max_grad_norm: c.maxGradNorm,
      learning_rate: c.lr,
      lr_scheduler: SCHEDULERS[c.scheduler],
      warmup_steps: c.warmup,
      eval_steps: c.evalEvery > 0 ? c.evalEvery : undefined,
      save_steps: c.checkpointEvery > 0 ? c.checkpointEvery : undefined,
      early_stopping_patience: c.earlyStopPatience > 0 ? c.earlyStopPatience : undefined,
      seed: c.seed,
      bf16: 'auto',
      gradient_checkpointing: true,
      logging_steps: 1,
    };
    writeFileAtomic(
      path.join(outDir, 'config.yml'),
      yamlDocument(`# Exported by LoRA Studio from run ${runId} (${run.name}).\n# Train on every GPU of this machine:  accelerate launch -m axolotl.cli.train config.yml`, config),
    );
    files.push('config.yml');
  } else {
    const py = (v: unknown) => (v === null || v === undefined ? 'None' : typeof v === 'boolean' ? (v ? 'True' : 'False') : JSON.stringify(v));
    const script = `# Exported by LoRA Studio from run ${runId} (${run.name}): the same LoRA fine-tune with TRL + PEFT.
# Run on all GPUs of a machine:  bash launch.sh   (accelerate launch --multi_gpu train.py)
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

BASE_MODEL = ${py(baseModel)}
CHAT_TEMPLATE = ${py(isChat ? template : null)}  # None: the model's own chat template

data = load_dataset("json", data_files="dataset.jsonl", split="train")
eval_share = ${py(evalShare)}
splits = data.train_test_split(test_size=eval_share, seed=${c.seed}) if eval_share > 0 else None

tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL)
if CHAT_TEMPLATE is not None:
    tokenizer.chat_template = CHAT_TEMPLATE
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token

peft_config = LoraConfig(
    r=${c.rank},
    lora_alpha=${c.alpha},
    lora_dropout=${c.dropout},
    target_modules=${py(targets)},
    layers_to_transform=${py(layers)},
    use_rslora=${py(c.rslora)},
    init_lora_weights=${py(init ?? true)},
    fan_in_fan_out=${py(modelType === 'gpt2')},
    bias="none",
    task_type="CAUSAL_LM",
)

args = SFTConfig(
    output_dir="lora-out",
    per_device_train_batch_size=${c.batchSize},
    gradient_accumulation_steps=${c.gradAccum},
    num_train_epochs=${c.epochs},
    max_steps=${c.maxSteps ?? -1},
    learning_rate=${c.lr},
    lr_scheduler_type=${py(SCHEDULERS[c.scheduler])},
    warmup_steps=${c.warmup},
    optim="adamw_torch",
    adam_beta1=${c.beta1},
    adam_beta2=${c.beta2},
    adam_epsilon=${c.eps},
    weight_decay=${c.weightDecay},
    max_grad_norm=${c.maxGradNorm},
    max_length=${c.seqLen},
    group_by_length=${py(c.groupByLength)},
    ${isChat ? `assistant_only_loss=${py(c.completionOnly)}` : 'completion_only_loss=False'},
    eval_strategy=${py(c.evalEvery > 0 && evalShare > 0 ? 'steps' : 'no')},
    eval_steps=${c.evalEvery > 0 ? c.evalEvery : 'None'},
    save_steps=${c.checkpointEvery > 0 ? c.checkpointEvery : 500},
    logging_steps=1,
    seed=${c.seed},
    bf16=True,
)

trainer = SFTTrainer(
    model=BASE_MODEL,
    args=args,
    train_dataset=splits["train"] if splits else data,
    eval_dataset=splits["test"] if splits else None,
    processing_class=tokenizer,
    peft_config=peft_config,
)
trainer.train()
trainer.save_model("lora-out")  # adapter_config.json + adapter_model.safetensors: import it into LoRA Studio
`;
    writeFileAtomic(path.join(outDir, 'train.py'), script);
    writeFileAtomic(path.join(outDir, 'launch.sh'), '#!/bin/sh\n# every GPU of this machine; add --num_machines/--machine_rank for more\nexec accelerate launch --multi_gpu train.py "$@"\n');
    fs.chmodSync(path.join(outDir, 'launch.sh'), 0o755);
    files.push('train.py', 'launch.sh');
  }
  return { dir: outDir, files, rows: lines.length };
}
