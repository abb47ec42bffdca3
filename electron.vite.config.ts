/**
 * Desktop build (electron-vite): out/main (Electron main process, ESM), out/preload (CommonJS: a
 * sandboxed preload cannot be an ES module) and out/renderer (the same renderer the web shell serves).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { defineConfig } from 'electron-vite';
import vue from '@vitejs/plugin-vue';
import { cspMetaPlugin } from './src/renderer/csp';

const root = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// electron-vite derives its Node/Chrome build targets from the installed electron package. Where the
// optional package is absent (its binary download failed) the build still runs, for the major
// version package.json asks for, so the output can be checked here and packaged elsewhere.
if (!process.env.ELECTRON_MAJOR_VER) {
  try {
    require.resolve('electron/package.json');
  } catch {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
    process.env.ELECTRON_MAJOR_VER = /\d+/.exec(pkg.optionalDependencies?.electron ?? '39')?.[0] ?? '39';
  }
}

/** Native modules and the optional GPU/CPU TensorFlow bindings are loaded from node_modules at run time. */
const nativeExternals = ['better-sqlite3', /^@tensorflow\/tfjs-node(-gpu)?(\/.*)?$/];

const mainEntries: Record<string, string> = {
  index: path.join(root, 'src/main/desktop/index.ts'),
};
// Code the engine starts in another process or thread is built beside index.js, where the engine
// looks for it: the trainer (a utility process), the export worker and the dataset import worker.
const sideEntries: Record<string, string> = {
  'trainer-child': 'src/main/trainer/child.ts',
  'export-worker': 'src/main/export/worker.ts',
  'dataset-import-worker': 'src/main/datasets/import-worker.ts',
};
for (const [name, file] of Object.entries(sideEntries)) {
  if (fs.existsSync(path.join(root, file))) mainEntries[name] = path.join(root, file);
}

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      externalizeDeps: true,
      rollupOptions: { input: mainEntries, external: nativeExternals },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // Sandboxed preloads can require only 'electron': the contract (and zod) is bundled in.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: path.join(root, 'src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: path.join(root, 'src/renderer'),
    base: './',
    plugins: [vue(), cspMetaPlugin()],
    build: {
      outDir: path.join(root, 'out/renderer'),
      emptyOutDir: true,
      assetsInlineLimit: 0,
      minify: 'esbuild',
      rollupOptions: { input: path.join(root, 'src/renderer/index.html') },
    },
  },
});
