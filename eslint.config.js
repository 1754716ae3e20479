// Lint: type-aware rules that catch real bugs (floating promises), and the dependency
// direction of src/ (asl ← engine ← api ← cli) enforced as import zones with no cycles.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const layers = ['asl', 'store', 'engine', 'api', 'worker', 'lake', 'catalog', 'scheduler', 'console', 'sync', 'ingest', 'cli'];
/** What each module may import from the rest of src/ (besides itself). */
const allowed = {
  asl: [],
  store: [],
  catalog: ['store'],
  lake: ['catalog', 'store'],
  engine: ['asl', 'store'],
  ingest: ['lake'],
  worker: [],
  scheduler: ['store'],
  sync: ['lake', 'catalog', 'store', 'worker', 'asl'],
  api: ['engine', 'asl', 'store', 'lake', 'catalog', 'scheduler', 'sync', 'ingest'],
  console: [],
  cli: layers,
};
const zones = Object.entries(allowed).flatMap(([layer, may]) =>
  layers
    .filter((other) => other !== layer && !may.includes(other))
    .map((other) => ({
      target: `./src/${layer}`,
      from: `./src/${other}`,
      message: `src/${layer} may not import src/${other} (see docs/ARCHITECTURE.md)`,
    })),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.scratch/**', '.inlet*/**', '**/*.js', '**/*.mjs', '!eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-restricted-paths': ['error', { zones }],
      'import-x/no-cycle': ['error', { maxDepth: 3 }],
    },
  },
);
