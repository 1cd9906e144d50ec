// The keystore under several real processes (issue 9, items 3-5): concurrent creators of a new
// store, a store whose token secret was lost, and a writer SIGKILLed while it holds the lock.
// Also: every `modelseal …` command that a hint or message in cli/, keyserver/ or keystore/ names exists.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/program.js';
import { FileKeyStore } from '../../keyserver/index.js';
import { HUMAN_MODELS, ROOT, run, spawnBin, tempDir } from './helpers.js';

const tmp = tempDir('modelseal-kproc-');
const model = join(tmp.dir, 'src', 'model.json');

beforeAll(() => {
  mkdirSync(join(tmp.dir, 'src'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), model);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(tmp.dir, 'src', 'blazeface.bin'));
});
afterAll(() => tmp.cleanup());

function runAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return spawnBin(args, { env: { MODELSEAL_HOME: '' } }).done;
}

/** Every key version of the store unwraps with its one master key. */
async function everyKeyUnwraps(dir: string): Promise<number> {
  const { store } = await FileKeyStore.open(dir);
  const keys = await store.list();
  for (const k of keys) expect((await store.get(k.modelId, k.keyId))?.key, `${k.modelId}/${k.keyId}`).toHaveLength(32);
  return keys.length;
}

describe('concurrent creators of a new keystore (item 3)', () => {
  it('12 seal and keys rotate --create processes on a fresh store: one master key, the store opens, every key unwraps', async () => {
    for (let round = 0; round < 2; round++) {
      const s = join(tmp.dir, `fresh-${round}`);
      const jobs = Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0
          ? runAsync(['seal', model, '--out', join(tmp.dir, `out-${round}-${i}`), '--model-id', `m${i}`, '--store', s])
          : runAsync(['keys', 'rotate', `r${i}`, '--create', '--store', s]),
      );
      const results = await Promise.all(jobs);
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      expect(results.filter((r) => r.stderr.includes(`modelseal: created keystore at ${s}`))).toHaveLength(1);
      expect(readdirSync(s).sort()).toEqual(['keys.json', 'master.key', 'token.secret']);
      expect(await everyKeyUnwraps(s)).toBe(12);
      for (let i = 0; i < 12; i += 2) expect(run(['verify', join(tmp.dir, `out-${round}-${i}`, 'model.json'), '--store', s]).code).toBe(0);
    }
  });
});

describe('a store that lost token.secret (item 4)', () => {
  it('token refuses it with a hint naming `modelseal keys new-token-secret`, which exists and repairs the store', () => {
    const s = join(tmp.dir, 'no-secret');
    expect(run(['keys', 'rotate', 'face', '--create', '--store', s]).code).toBe(0);
    // What the old creation order left after a crash between master.key and token.secret.
    rmSync(join(s, 'token.secret'));
    const refused = run(['token', '--model', 'face', '--store', s]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`modelseal: error [keystore_invalid]: ${join(s, 'token.secret')} is missing: restore it, or create a new one with \`modelseal keys new-token-secret\``);
    const repaired = run(['keys', 'new-token-secret', '--store', s]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stderr).toContain(`modelseal: wrote a new token secret to ${s}/token.secret`);
    const token = run(['token', '--model', 'face', '--store', s]);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
});

describe('a writer killed while it holds the keystore lock (item 5)', () => {
  it('SIGKILL during keys rotate leaves a stale lock; the next writer reclaims it at once and says so', async () => {
    const s = join(tmp.dir, 'killed');
    expect(run(['keys', 'rotate', 'face', '--create', '--store', s]).code).toBe(0);
    const lock = join(s, 'keys.lock');
    const owner = join(s, 'keys.lock.owner');
    let killedPid: number | undefined;
    // Catch a rotate while it holds the lock: its owner file appears, SIGSTOP freezes it, and if it
    // still holds the lock then, SIGKILL ends it there. Bounded: at most 40 tries.
    for (let attempt = 0; attempt < 40 && killedPid === undefined; attempt++) {
      const { child, done } = spawnBin(['keys', 'rotate', 'face', '--store', s]);
      const watcher = watch(s, (_event, name) => {
        if (name !== 'keys.lock.owner' || killedPid !== undefined || child.exitCode !== null) return;
        child.kill('SIGSTOP');
        const holder = existsSync(lock) && existsSync(owner) ? (JSON.parse(readFileSync(owner, 'utf8')) as { pid: number }).pid : undefined;
        if (holder === child.pid) {
          killedPid = child.pid;
          child.kill('SIGKILL');
        } else child.kill('SIGCONT');
      });
      await done;
      watcher.close();
    }
    expect(killedPid).toBeDefined();
    expect(existsSync(lock)).toBe(true);
    const next = run(['keys', 'rotate', 'face', '--store', s, '--json']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain(`modelseal: removed a stale keystore lock ${lock} left by process ${killedPid} (no longer running)`);
    expect(readdirSync(s).filter((n) => n.startsWith('keys.lock'))).toEqual([]);
    // A writer killed between writing its temp file and the rename leaves that hidden temp file
    // (nothing reads it); never anything else.
    expect(readdirSync(s).filter((n) => n.endsWith('.tmp') && !/^\.keys\.json\.[0-9a-f]{12}\.tmp$/.test(n))).toEqual([]);
    expect(await everyKeyUnwraps(s)).toBeGreaterThanOrEqual(2);
  });
});

describe('hints and messages name real commands (item 4)', () => {
  it('every `modelseal …` in cli/, keyserver/ and keystore/ sources is a registered command, and its --options exist', () => {
    const program = buildProgram();
    const files = ['cli', 'keyserver', 'keystore'].flatMap((d) => (readdirSync(join(ROOT, d), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(ROOT, d, f)));
    const named: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/`modelseal ([a-z][^`]*)`/g)) named.push(m[1]!.replace(/\\$/, '').replace(/\$\{[^}]*\}|'\s*\+[^+]*\+\s*'/g, 'X'));
    }
    expect(named.length).toBeGreaterThan(5);
    const problems: string[] = [];
    // `keys list|rotate|revoke` names three commands.
    const expanded = named.flatMap((t) => {
      const alt = /^(.*?)(\S+\|\S+)(.*)$/.exec(t);
      return alt ? alt[2]!.split('|').map((w) => `${alt[1]}${w}${alt[3]}`) : [t];
    });
    for (const text of new Set(expanded)) {
      const words = text.split(/\s+/);
      let cmd: Command = program;
      let i = 0;
      while (i < words.length && cmd.commands.length > 0) {
        const sub = cmd.commands.find((c) => c.name() === words[i]);
        if (!sub) break;
        cmd = sub;
        i++;
      }
      if (cmd === program || cmd.commands.length > 0) problems.push(`\`modelseal ${text}\`: no such command`);
      for (const flag of words.slice(i).filter((w) => w.startsWith('--'))) {
        if (!cmd.options.some((o) => o.long === flag) && flag !== '--help') problems.push(`\`modelseal ${text}\`: ${cmd.name()} has no ${flag}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
