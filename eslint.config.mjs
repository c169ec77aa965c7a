import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * The dependency direction (STYLE.md): app -> platform -> adapters -> domain; the domain depends
 * on nothing. Test files may also use the shared test library.
 */
function boundaries(inTests) {
  const extra = inTests ? ['type:testing'] : [];
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      depConstraints: [
        { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', ...extra] },
        { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:domain', ...extra] },
        { sourceTag: 'type:proto', onlyDependOnLibsWithTags: [] },
        // The dashboard's page: browser code, bundled on its own.
        { sourceTag: 'type:web', onlyDependOnLibsWithTags: [] },
        { sourceTag: 'type:edge', onlyDependOnLibsWithTags: ['type:domain', 'type:edge', ...extra] },
        {
          sourceTag: 'type:service',
          onlyDependOnLibsWithTags: ['type:domain', 'type:proto', 'type:edge', ...extra, ...(inTests ? ['type:adapter'] : [])],
        },
        {
          sourceTag: 'type:platform',
          onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:proto', 'type:service', 'type:edge', 'type:web', ...extra],
        },
        {
          sourceTag: 'type:testing',
          onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:platform', 'type:proto', 'type:service'],
        },
        {
          sourceTag: 'type:app',
          onlyDependOnLibsWithTags: ['type:domain', 'type:adapter', 'type:platform', 'type:proto', 'type:service', 'type:edge', ...extra],
        },
        {
          sourceTag: 'type:e2e',
          onlyDependOnLibsWithTags: [
            'type:domain',
            'type:adapter',
            'type:platform',
            'type:testing',
            'type:app',
            'type:proto',
            'type:service',
            'type:edge',
            'type:web',
          ],
        },
      ],
    },
  ];
}

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(true) },
  },
  {
    // Product code decides on every failure: translate it, rethrow it, or handle one named case.
    // A catch that swallows whatever comes turns outages into domain answers (STYLE.md, errors).
    files: ['**/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'libs/testing/**', 'libs/proto/src/gen/**'],
    rules: {
      'no-empty': ['error', { allowEmptyCatch: false }],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CatchClause[param=null]',
          message: 'Name the error and decide on it (translate, rethrow, or handle a named case); a bare catch swallows every failure.',
        },
        {
          selector: "CallExpression[callee.property.name='catch'] > ArrowFunctionExpression[params.length=0]",
          message: '.catch(() => ...) swallows every failure: take the error and decide on it.',
        },
      ],
    },
  },
  {
    // One configuration: only the loader reads the environment (the OpenTelemetry SDK reads its
    // own OTEL_* variables; the RBD adapter hands its environment on to librbd's helper process).
    files: ['**/src/**/*.ts'],
    ignores: [
      '**/*.test.ts',
      'libs/testing/**',
      'libs/platform/src/config/load.ts',
      'libs/telemetry/src/sdk.ts',
      'libs/adapters/rbd/src/rbd-io.ts',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings through loadConfig (libs/platform/src/config/load.ts) and list them in variables.ts.',
        },
      ],
    },
  },
];
