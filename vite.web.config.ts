/**
 * The renderer alone, for the web shell on machines without Electron (`npm run build:web`):
 * the same pages as the desktop build, written to out/renderer, which the web server serves.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import { cspMetaPlugin } from './src/renderer/csp';

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: path.join(root, 'src/renderer'),
  // Relative asset URLs: the same files load from http://host/ and from file:// in Electron.
  base: './',
  plugins: [vue(), cspMetaPlugin()],
  build: {
    outDir: path.join(root, 'out/renderer'),
    emptyOutDir: true,
    // Fonts and images stay files: the CSP admits no data: fonts.
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
