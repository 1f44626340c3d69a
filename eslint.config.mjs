// ESLint (flat config): typescript-eslint's recommended rules, the layering of the code as import rules, exhaustive
// switches over the message unions, no unused code. `npm run lint` runs it (scripts/lint.sh); test/unit/layering.test.ts
// shows that each layering rule fires on a planted violation.
//
// The layering (docs/architecture.md):
//   src/core, src/shared  logic without VS Code: never import `vscode`, so unit tests run them in plain Node;
//   src/core              imports only src/core and src/shared (and Node / npm packages);
//   src/shared            imports only src/shared, and no Node built-ins: it is bundled into the webviews too;
//   webview/<view>        imports only src/shared, its own folder and npm packages (no Node built-ins: a browser);
//   everywhere            no import cycles, type-only imports included (scripts/eslint/no-import-cycle.mjs).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import trapo from './scripts/eslint/no-import-cycle.mjs';

const TS_FILES = ['**/*.ts'];
const VIEWS = ['dashboard', 'compare', 'rolloutTable'];

export default defineConfig(
  {
    ignores: ['node_modules/**', 'dist/**', 'media/dist/**', 'trainer/**', '.e2e/**', 'test/fixtures/**', 'test/e2e/workspace*/**', 'test-results/**'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  ...tseslint.configs.recommended,
  {
    files: TS_FILES,
    languageOptions: {
      parserOptions: {
        // Type information for switch-exhaustiveness-check: each file is checked with the tsconfig.json nearest to it
        // (webview/tsconfig.json for the webviews, the root one for everything else).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX, trapo },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'] })],
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        // A switch over a union lists every member, so adding a message kind fails until each switch handles it;
        // a `default:` does not excuse a missing member.
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // `let x; ... closure reads x?.y ...; x = new X(closure)`: a callback may run before the assignment, by design.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-unreachable': 'error',
      'no-useless-return': 'error',
      '@typescript-eslint/consistent-type-imports': 'off',
      // Not import-x/no-cycle: it skips type-only imports (scripts/eslint/no-import-cycle.mjs says why that matters).
      'trapo/no-import-cycle': 'error',
      'import-x/no-self-import': 'error',
      'import-x/no-duplicates': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/core and src/shared are logic without VS Code: pass what they need in.' }],
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/core',
              from: './src',
              except: ['./core', './shared'],
              message: 'src/core imports only src/core and src/shared (the rest of src/ is VS Code code).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/shared/**/*.ts', 'webview/**/*.ts'],
    rules: { 'import-x/no-nodejs-modules': 'error' },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/shared',
              from: './src',
              except: ['./shared'],
              message: 'src/shared is bundled into the webviews: it imports only src/shared.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './webview',
              from: './src',
              except: ['./shared'],
              message: 'A webview sees only src/shared (messages, pure helpers); the rest of src/ runs in the extension host.',
            },
            ...VIEWS.map((view) => ({
              target: `./webview/${view}`,
              from: './webview',
              except: [`./${view}`],
              message: 'A webview imports only its own folder; code two views share goes to src/shared.',
            })),
          ],
        },
      ],
    },
  },
  {
    // Build scripts and this config: plain JavaScript, no tsconfig, so no type-aware rules.
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
