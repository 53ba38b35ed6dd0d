/**
 * The shape of src/ (README, Layout): arrows point one way, cli -> node -> session -> (query, data, crypto, wire),
 * query -> dp (the exact samplers and tail bounds); transport, control, console, audit and budget are adapters (the
 * last two on journal, the append-only file they share; console reads for the web console what the others keep,
 * and control serves it without importing it); nothing below imports from above, and nothing imports in a circle.
 * `npm test` runs this before the tests.
 */
const below = (from, ...forbidden) => ({
  name: `${from}-imports-upward`,
  comment: `src/${from} may not import ${forbidden.join(', ')}: they sit above it`,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: `^src/(${forbidden.join('|')})/` },
});
const ABOVE_ALL = ['cli', 'node'];

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'import cycles make the arrows meaningless', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'product-imports-tooling',
      comment: 'src/ ships; tests, scripts and benchmarks do not',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|scripts|bench)/' },
    },
    below('journal', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'manifest', 'wire', 'config', 'crypto', 'budget', 'dp'),
    below('dp', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'manifest', 'wire', 'config', 'crypto', 'budget'),
    below('budget', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'manifest', 'wire', 'config', 'crypto'),
    below('crypto', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'manifest', 'wire', 'config', 'budget', 'dp'),
    below('wire', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'manifest', 'crypto', 'config', 'budget', 'dp'),
    below('manifest', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'query', 'config', 'budget'),
    below('query', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'data', 'config', 'budget'),
    below('data', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'config', 'budget'),
    below('config', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'session', 'budget'),
    below('session', ...ABOVE_ALL, 'control', 'console', 'audit', 'transport', 'data', 'config', 'budget'),
    below('transport', ...ABOVE_ALL, 'control', 'console', 'audit', 'session', 'data', 'query', 'config', 'budget'),
    below('audit', ...ABOVE_ALL, 'control', 'console', 'transport', 'session', 'data', 'query', 'budget'),
    below('control', ...ABOVE_ALL, 'console', 'audit', 'transport', 'session', 'data', 'budget'),
    below('console', ...ABOVE_ALL, 'control', 'transport', 'session', 'data'),
    below('node', 'cli'),
    {
      name: 'base-imports-nothing-of-ours',
      comment: 'errors, limits and failpoints are the floor every room stands on',
      severity: 'error',
      from: { path: '^src/(errors|limits|failpoint)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(errors|limits|failpoint)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
