import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'examples/web/dist/', 'test-results/', '.tmp/', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // format/ and loader/ run in browsers: Node built-ins are a bug there, and so is node/, the
    // Node-only folder (its files import node:*). Browser-safe code that Node also uses lives in
    // format/ (format/gcm-cipher.ts takes node:crypto as a parameter).
    files: ['format/**/*.ts', 'loader/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'path', 'crypto', 'buffer', 'os', 'url'], message: 'browser code: no Node built-ins' },
        { group: ['**/node', '**/node/*', 'modelseal/node'], message: 'node/ is Node-only; browser code takes what it needs from format/' },
      ] }],
    },
  },
  {
    // keystore/ is shared by cli/ (which writes it) and keyserver/ (which reads it): it imports neither.
    files: ['keystore/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/keyserver/**', '**/cli/**'], message: 'keystore/ is below cli/ and keyserver/: move the shared part into keystore/ or format/' }] }],
    },
  },
  {
    // Nothing imports cli/.
    files: ['keyserver/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli/**'], message: 'keyserver/ never imports cli/' }] }],
    },
  },
);
