// Option parsers: sizes in the units users type, the help text of defaults, and what the bin loads
// before a command runs.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePort, parseShardSize, parseSize } from '../../cli/options.js';
import { BIN, ROOT, run, tempDir } from './helpers.js';

describe('size options', () => {
  it('reads KB/MB/GB as binary units, as TF.js shard sizes are counted', () => {
    expect(parseSize('4MB')).toBe(4 * 1024 * 1024);
    expect(parseSize('4mb')).toBe(parseSize('4MiB'));
    expect(parseSize('512KB')).toBe(512 * 1024);
    expect(parseSize('1GB')).toBe(1024 ** 3);
    expect(parseShardSize('4MB')).toBe(4194304);
  });

  it('refuses units it does not know, naming the forms it takes', () => {
    expect(() => parseSize('4TB')).toThrow(/4MiB/);
    expect(() => parseSize('4 M B')).toThrow(/byte count/);
  });
});

describe('help text', () => {
  it('token --ttl shows its default as a duration, not milliseconds', () => {
    const r = run(['token', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--ttl <duration>.*\(default: 5m\)/s);
    expect(r.stdout).not.toContain('300000');
  });
});

describe('port options', () => {
  it('takes 0 to 65535 and nothing else', () => {
    expect(parsePort('0')).toBe(0);
    expect(parsePort('65535')).toBe(65535);
    for (const bad of ['65536', '-1', '80.5', ' 80', '0x50', '']) expect(() => parsePort(bad), bad).toThrow(/port number from 0 to 65535/);
  });

  it('serve --port refuses a bad port as a usage error naming the option', () => {
    const r = run(['serve', '--port', '70000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--port <port>' argument '70000' is invalid. expected a port number from 0 to 65535.");
  });
});

describe('every keystore command takes the same --store and --master-key options', () => {
  const commands = [['seal'], ['open'], ['verify'], ['inspect'], ['token'], ['serve'], ['keys', 'list'], ['keys', 'rotate'], ['keys', 'revoke'], ['keys', 'publish'], ['keys', 'rewrap'], ['keys', 'new-token-secret']];
  it.each(commands.map((c) => [c.join(' '), c] as const))('%s --help', (_name, command) => {
    const r = run([...command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--store <dir>\s+keystore folder \(default: \$MODELSEAL_HOME, else\s+\.\/\.modelseal\)/);
    expect(r.stdout).toMatch(/--master-key <uri>\s+(the current )?master key URI: file:PATH/);
  });
});

describe('what the bin loads before a command runs', () => {
  const tmp = tempDir('modelseal-loads-');
  afterAll(() => tmp.cleanup());
  // A module-resolution hook (node:module register) that writes every URL the process resolves.
  const hook = join(tmp.dir, 'hook.mjs');
  writeFileSync(hook, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.MODELSEAL_TEST_LOG, r.url + '\\n');
  return r;
}
`);
  const register = join(tmp.dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);

  function loaded(args: string[], name: string): { code: number | null; urls: string[] } {
    const log = join(tmp.dir, `${name}.log`);
    writeFileSync(log, '');
    const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, MODELSEAL_TEST_LOG: log } });
    return { code: r.status, urls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  }

  // The server, the keystore, the ciphers and their libraries: what makes a command's start slow.
  const heavy = /node_modules\/(fastify|pino|prom-client|jose|redis|@redis|cli-progress|ignore|protobufjs)\/|dist\/(keyserver\/(server|app|keystore|config|mint|master\/file)|format\/seal|cli\/actions\/|node\/|guard\/)/;

  it.each([
    ['--version'], ['--help'], ['seal', '--help'], ['keys', 'rotate', '--help'], ['serve', '--help'], ['seal'],
  ].map((a) => [a.join(' '), a] as const))('modelseal %s loads none of them', (name, args) => {
    const { code, urls } = loaded([...args], name.replace(/\W+/g, '-'));
    // `seal` without arguments is a usage error (exit 2), printed before any action runs.
    expect(code).toBe(name === 'seal' ? 2 : 0);
    expect(urls.some((u) => u.endsWith('/dist/cli/commands/seal.js'))).toBe(true);
    expect(urls.filter((u) => heavy.test(u))).toEqual([]);
  });

  it('a command that runs loads its action and the keystore (so the check above sees lazy loads)', () => {
    const { code, urls } = loaded(['keys', 'list', '--store', join(tmp.dir, 'store')], 'keys-list');
    expect(code).toBe(1);
    expect(urls.some((u) => u.endsWith('/dist/cli/actions/keys.js'))).toBe(true);
    expect(urls.some((u) => /dist\/keyserver\/keystore\.js$/.test(u))).toBe(true);
  });
});
