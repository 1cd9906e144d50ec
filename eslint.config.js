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
    // format/ and loader/ run in browsers: Node built-ins are a bug there.
    files: ['format/**/*.ts', 'loader/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'path', 'crypto', 'buffer', 'os', 'url'] }],
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
