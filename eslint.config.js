// ESLint (flat config): JavaScript and TypeScript everywhere, Vue single-file components in the
// renderer, and the one architectural rule a linter can hold: only the desktop shell and the
// preload may import electron (the engine runs in plain Node behind the CLI and the web server).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';
import vueParser from 'vue-eslint-parser';
import globals from 'globals';

const electronImport = {
  paths: [{ name: 'electron', message: 'Only src/main/desktop/ and src/preload/ may import electron: the engine must run in plain Node.' }],
  patterns: [{ group: ['electron/*'], message: 'Only src/main/desktop/ and src/preload/ may import electron.' }],
};

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', 'build/**', 'node_modules/**', 'native/build/**', 'native/node_modules/**', 'test-results/**', 'resources/**', '.cache/**', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/recommended'],
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      'no-restricted-imports': ['error', electronImport],
      '@typescript-eslint/no-restricted-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/main/desktop/**', 'src/preload/**', 'test/main/desktop/**', 'test/preload/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // The end-to-end suites drive the desktop pieces and may name Electron's types, never load it.
    files: ['test/e2e/**'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', { ...electronImport, paths: electronImport.paths.map((p) => ({ ...p, allowTypeImports: true })) }],
    },
  },
  {
    // The renderer runs in a browser.
    files: ['src/renderer/src/**/*.{ts,vue}'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.vue'],
    languageOptions: {
      parser: vueParser,
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], sourceType: 'module' },
    },
    rules: {
      // Formatting is not the linter's business here; these only fight the code's own layout.
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
    },
  },
);
