/**
 * Does LoRA learn? The bundled starter model against its companion task (reverse a list of
 * words): held-out exact-match accuracy of the base model, a LoRA run through the studio's own
 * runs service (trainer process, checkpoints, adapter library), the adapted accuracy, and the
 * time. With --sweep, one run per rank r = 1, 2, 4, 8, 16 (stored as runs, so the UI can plot
 * them) and a table of rank, trainable parameters, accuracy and time.
 *
 *   node --import tsx scripts/learn-starter.ts [--data-dir DIR] [--sweep] [--steps N] [--rank R] [--lr LR]
 *        [--test-rows N] [--backend NAME] [--model DIR --task DIR] [--json]
 *
 * --model / --task point at another model folder and a folder with train.jsonl + test.jsonl.
 *
 * Exact match: the greedy reply (chat template, stop at end of turn) equals the expected reply.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ImportArgs } from '../src/shared/contract/datasets';
import type { RunConfigInput } from '../src/shared/contract/runs';
import { Engine } from '../src/main/engine';
import { resolveTemplate } from '../src/main/datasets/templates';
import { renderChatTemplate, type ChatMessage } from '../src/main/ml/chat-template';
import { generate } from '../src/main/ml/generate';
import { loadModelFolder, type LoadedModelFolder } from '../src/main/ml/loader';
import { loadPeftAdapter } from '../src/main/ml/lora/peft';
import { selectBackend } from '../src/main/ml/backends';
import { datasetsService } from '../src/main/services/datasets';
import { ModelsService } from '../src/main/services/models';
import { runsService } from '../src/main/services/runs';
import { RunsLibrary } from '../src/main/services/runs-library';
import { createAdaptersRepo } from '../src/main/storage/repos/adapters';
import { appRoot } from '../src/main/storage/paths';

interface Row {
  messages: ChatMessage[];
}

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    sweep: { type: 'boolean' },
    steps: { type: 'string' },
    rank: { type: 'string' },
    lr: { type: 'string' },
    'test-rows': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    model: { type: 'string' },
    task: { type: 'string' },
  },
});

const root = appRoot();
const modelDir = path.resolve(values.model ?? path.join(root, 'resources', 'starter-model'));
const taskDir = path.resolve(values.task ?? path.join(root, 'resources', 'starter-task'));
const readJsonl = (f: string): Row[] =>
  fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);

/** Greedy exact match of the last (assistant) message, prompts batched with left padding. */
async function accuracy(folder: LoadedModelFolder, rows: Row[]): Promise<number> {
  const tpl = resolveTemplate(folder.tokenizer, 'model');
  const vars = { bos_token: '', eos_token: '', ...folder.tokenizer.templateVariables() };
  let correct = 0;
  const batch = 32;
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch);
    const prompts = chunk.map((r) =>
      folder.tokenizer.encode(renderChatTemplate(tpl.source, r.messages.slice(0, -1), { addGenerationPrompt: true, specialTokens: vars }), {
        addSpecialTokens: tpl.addSpecialTokens,
      }),
    );
    const out = await generate(folder.model, prompts, {
      maxNewTokens: 32,
      temperature: 0,
      eosTokenIds: folder.generationConfig.eosTokenIds,
      tokenizer: folder.tokenizer,
    });
    chunk.forEach((r, j) => {
      if (out.texts[j].trim() === r.messages[r.messages.length - 1].content.trim()) correct++;
    });
  }
  return correct / rows.length;
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) throw new Error(`${modelDir}: no model there (config.json is missing)`);
  const dataDir = values['data-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'lora-studio-learn-'));
  const engine = Engine.open({ dataDir, shell: 'cli' });
  const log = (s: string) => process.stderr.write(s + '\n');
  try {
    await selectBackend(values.backend ?? null);
    const model = new ModelsService(engine).add(modelDir, 'starter');
    const imported = await datasetsService(engine).import(ImportArgs.parse({ path: path.join(taskDir, 'train.jsonl'), name: 'starter-task' }));
    const test = readJsonl(path.join(taskDir, 'test.jsonl')).slice(0, Number(values['test-rows'] ?? 200));
    log(`data dir ${dataDir}; ${imported.rows} training rows, ${test.length} held-out rows`);

    let t = Date.now();
    const base = await accuracy(loadModelFolder(modelDir), test);
    log(`base model: exact match ${(base * 100).toFixed(1)}% (${((Date.now() - t) / 1000).toFixed(0)}s to evaluate)`);

    const ranks = values.sweep ? [1, 2, 4, 8, 16] : [Number(values.rank ?? 8)];
    const service = runsService(engine);
    const results: { rank: number; runId: number; trainableParams: number; accuracy: number; trainSeconds: number; status: string }[] = [];
    for (const rank of ranks) {
      const config: RunConfigInput = {
        name: `starter-task r=${rank}`,
        model: model.id,
        dataset: imported.id,
        template: 'model',
        targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
        rank,
        alpha: 2 * rank,
        dropout: 0,
        lr: Number(values.lr ?? 3e-3),
        scheduler: 'cosine',
        warmup: 10,
        maxSteps: Number(values.steps ?? 800),
        batchSize: 16,
        seqLen: 64,
        checkpointEvery: 100,
        seed: 1,
        backend: values.backend,
      };
      t = Date.now();
      const run = service.create(config);
      const off = engine.events.on('runs.step', (p) => {
        if (p.runId === run.id && (p.step % 25 === 0 || p.step === p.totalSteps)) {
          log(`  r=${rank} step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} (${p.tokensPerSecond.toFixed(0)} tok/s)`);
        }
      });
      const done = await service.waitFor(run.id);
      off();
      const trainSeconds = (Date.now() - t) / 1000;
      if (done.status !== 'completed' || done.adapterId === null) throw new Error(`run ${run.id} ${done.status}: ${done.error}`);
      const adapter = createAdaptersRepo(engine.db).get(done.adapterId)!;
      const folder = loadModelFolder(modelDir);
      loadPeftAdapter(adapter.path, folder.model);
      const acc = await accuracy(folder, test);
      // Stored with the run: the Runs page's rank-sweep view plots accuracy against r.
      const library = new RunsLibrary(engine);
      library.recordEvaluation(run.id, { accuracy: acc });
      if (values.sweep) library.setTags(run.id, ['rank-sweep']);
      results.push({ rank, runId: run.id, trainableParams: done.trainableParams ?? 0, accuracy: acc, trainSeconds, status: done.status });
      log(`r=${rank}: exact match ${(acc * 100).toFixed(1)}% after ${trainSeconds.toFixed(0)}s of training (run ${run.id})`);
    }

    if (values.json) process.stdout.write(JSON.stringify({ dataDir, base, results }) + '\n');
    else {
      const lines = [
        `base model exact match: ${(base * 100).toFixed(1)}%`,
        '',
        '| rank | trainable params | exact match | time (s) | run |',
        '|---:|---:|---:|---:|---:|',
        ...results.map((r) => `| ${r.rank} | ${r.trainableParams} | ${(r.accuracy * 100).toFixed(1)}% | ${r.trainSeconds.toFixed(0)} | ${r.runId} |`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
  } finally {
    await engine.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`learn-starter: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
