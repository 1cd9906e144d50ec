// The readers a soak case goes through, and how each outcome is classified: the loader in Node
// (files served from memory by an injected fetch, the key released by the real key server app),
// the CLI's `verify` and `open` in process, and the built CLI as a child process.

import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { collectOpen } from '../../cli/actions/open.js';
import { collectVerify } from '../../cli/actions/verify.js';
import { ERROR_CODES, ModelsealError } from '../../format/index.js';
import type { KeyServer } from '../../keyserver/index.js';
import { sealedModel } from '../../loader/index.js';
import type { SoakCase } from './mutate.js';

/** The readers, in the order a case visits them. */
export const READERS = ['loader', 'verify', 'open', 'cli-verify', 'cli-open'] as const;
export type ReaderName = (typeof READERS)[number];

/** (a) success with the sealed plaintext, (b) a documented ModelsealError, (c) anything else. */
export type OutcomeKind = 'opened' | 'refused' | 'failure';

/** What one reader did with one case. */
export interface Outcome {
  reader: ReaderName;
  kind: OutcomeKind;
  /** `ok` for opened; the error code for refused; for failures, what went wrong. */
  code: string;
  detail?: string;
  /** Wall-clock time of this reader on this case. */
  ms?: number;
}

/** What the readers share: the keystore, the key server app, a token, a scratch folder. */
export interface ReaderContext {
  storeDir: string;
  server: KeyServer;
  token: string;
  scratch: string;
  /** The built CLI (dist/cli/main.js), for the process path. */
  bin: string;
  timeoutMs: number;
}

const KEY_SERVER = 'http://keys.soak.invalid';
const CDN = 'http://cdn.soak.invalid/m/';
const DOCUMENTED = new Set<string>(ERROR_CODES);

class Timeout extends Error {}

/**
 * Rejects with Timeout when `work` has no outcome after `ms` of time in which the event loop was
 * free: a tick late by seconds (another case's long synchronous step, a loaded machine) counts as
 * one tick, so only work that is really stuck is called a hang.
 */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const limit = new Promise<never>((_, reject) => {
    let live = 0;
    let last = performance.now();
    timer = setInterval(() => {
      const now = performance.now();
      live += Math.min(now - last, 500);
      last = now;
      if (live >= ms) reject(new Timeout(`no outcome within ${ms} ms`));
    }, 250);
  });
  return Promise.race([work, limit]).finally(() => clearInterval(timer));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Classifies a thrown value (the case's `mustOpen` turns any refusal into a failure). */
function classifyError(reader: ReaderName, c: SoakCase, err: unknown): Outcome {
  if (err instanceof Timeout) return { reader, kind: 'failure', code: 'hang', detail: err.message };
  if (err instanceof ModelsealError && DOCUMENTED.has(err.code)) {
    if (c.mustOpen) return { reader, kind: 'failure', code: 'refused-valid', detail: `${err.code}: ${err.message}` };
    return { reader, kind: 'refused', code: err.code };
  }
  const e = err as Error;
  return { reader, kind: 'failure', code: `threw ${e?.constructor?.name ?? typeof err}`, detail: `${e?.message ?? String(err)}\n${e?.stack ?? ''}`.slice(0, 2000) };
}

/**
 * A success is (a) only with the sealed plaintext. When the oracle expected a refusal but the
 * reader gave back exactly the sealed bytes, the outcome is `ok-unexpected`: listed for review, not
 * a failure, because the oracle composes step verdicts and misjudges steps that undo earlier ones
 * (a rename, two swaps that cancel, a deletion that removes an earlier edit). Handing back any
 * other bytes is always a failure.
 */
function classifySuccess(reader: ReaderName, c: SoakCase, problem: string | undefined): Outcome {
  if (problem !== undefined) return { reader, kind: 'failure', code: 'wrong-output', detail: problem };
  if (!c.mayOpen) return { reader, kind: 'opened', code: 'ok-unexpected', detail: 'opened with the sealed bytes although the oracle expected a refusal' };
  return { reader, kind: 'opened', code: 'ok' };
}

// ---------------------------------------------------------------------------------------------
// The loader

function headersOf(raw: Record<string, unknown>): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, String(one));
  }
  return h;
}

/** A Response whose body arrives in `piece`-byte pieces (all at once when undefined). */
function served(bytes: Uint8Array, piece: number | undefined): Response {
  if (piece === undefined) return new Response(bytes.slice(), { status: 200 });
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
  return new Response(body, { status: 200 });
}

async function loaderRead(c: SoakCase, ctx: ReaderContext): Promise<Outcome> {
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    if (input.startsWith(KEY_SERVER)) {
      const res = await ctx.server.app.inject({
        method: (init?.method ?? 'GET') as 'POST',
        url: new URL(input).pathname,
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        payload: init?.body as string,
      });
      return new Response(res.statusCode === 204 ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers: headersOf(res.headers) });
    }
    if (!input.startsWith(CDN)) return new Response('no such host', { status: 502 });
    const path = input.slice(CDN.length);
    const bytes = path === 'model.json' ? c.manifest : c.files.get(path);
    return bytes ? served(bytes, c.loader.piece) : new Response('not found', { status: 404 });
  };
  const plain = c.model.plain;
  const handler = sealedModel(`${CDN}model.json`, {
    token: ctx.token,
    keyServer: KEY_SERVER,
    fetch,
    timeoutMs: ctx.timeoutMs,
    streamWeights: c.loader.streamWeights,
    ...(c.loader.pinModelId ? { modelId: plain.modelId } : {}),
  });
  const artifacts = await handler.load();
  let weights: Uint8Array;
  if (artifacts.getWeightStream) {
    const parts: Uint8Array[] = [];
    const reader = artifacts.getWeightStream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(new Uint8Array(value));
    }
    weights = Buffer.concat(parts);
  } else {
    const data = artifacts.weightData;
    const list = data === undefined ? [] : Array.isArray(data) ? data : [data];
    weights = Buffer.concat(list.map((b) => new Uint8Array(b)));
  }
  const model = JSON.parse(plain.modelJsonText.replace(/^\uFEFF/, '')) as { modelTopology: unknown; weightsManifest: Array<{ weights: unknown[] }> };
  if (!sameBytes(weights, plain.weights)) return classifySuccess('loader', c, `weights differ (${weights.length} bytes, sealed ${plain.weights.length})`);
  if (!isDeepStrictEqual(artifacts.modelTopology, model.modelTopology)) return classifySuccess('loader', c, 'modelTopology differs');
  if (!isDeepStrictEqual(artifacts.weightSpecs, model.weightsManifest.flatMap((g) => g.weights))) return classifySuccess('loader', c, 'weightSpecs differ');
  return classifySuccess('loader', c, undefined);
}

// ---------------------------------------------------------------------------------------------
// The CLI readers, in process and as a child process, over files written to a scratch folder

/** Writes the case's files into a fresh folder; returns the model.json path. */
async function writeCase(c: SoakCase, dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), c.manifest);
  for (const [path, bytes] of c.files) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, bytes);
  }
  return join(dir, 'model.json');
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  await walk(dir);
  return out.sort();
}

/** What `open` wrote, against the sealed model: model.json byte for byte and every weight file. */
async function checkOpened(c: SoakCase, out: string): Promise<string | undefined> {
  const plain = c.model.plain;
  const expected = ['model.json', ...plain.weightPaths].sort();
  const found = await listTree(out);
  if (!isDeepStrictEqual(found, expected)) return `open wrote ${JSON.stringify(found)}, expected ${JSON.stringify(expected)}`;
  if (!sameBytes(await readFile(join(out, 'model.json')), Buffer.from(plain.modelJsonText))) return 'model.json differs from the sealed one';
  for (const [i, path] of plain.weightPaths.entries()) {
    if (!sameBytes(await readFile(join(out, path)), plain.weightFiles[i]!)) return `${path} differs from the sealed weight file`;
  }
  return undefined;
}

async function verifyRead(c: SoakCase, ctx: ReaderContext, manifestPath: string): Promise<Outcome> {
  const summary = await collectVerify(manifestPath, { store: ctx.storeDir, json: true });
  const plain = c.model.plain;
  const problem = summary.weightBytes !== plain.weights.length || summary.modelId !== plain.modelId ? `verify reported ${summary.weightBytes} weight bytes of ${summary.modelId}` : undefined;
  return classifySuccess('verify', c, problem);
}

async function openRead(c: SoakCase, ctx: ReaderContext, manifestPath: string, out: string): Promise<Outcome> {
  await collectOpen(manifestPath, { store: ctx.storeDir, out, json: true });
  return classifySuccess('open', c, await checkOpened(c, out));
}

function spawnCli(ctx: ReaderContext, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env['MODELSEAL_HOME'];
    delete env['MODELSEAL_PROGRESS'];
    execFile(process.execPath, [ctx.bin, ...args], { env, timeout: ctx.timeoutMs * 3, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The CLI as a child process: exit 0 must mean the same success, exit 1 must name a documented
 * code (from --json for verify, from the `error [code]` line for open) and agree with the
 * in-process reader's code for the same files.
 */
async function cliRead(reader: 'cli-verify' | 'cli-open', c: SoakCase, ctx: ReaderContext, manifestPath: string, out: string, inProcess: Outcome): Promise<Outcome> {
  const args = reader === 'cli-verify' ? ['verify', '--json', '--store', ctx.storeDir, manifestPath] : ['open', '--json', '--store', ctx.storeDir, '--out', out, manifestPath];
  const r = await spawnCli(ctx, args);
  if (r.code === 0) {
    const outcome = classifySuccess(reader, c, reader === 'cli-open' ? await checkOpened(c, out) : undefined);
    if (outcome.kind === 'opened' && inProcess.kind !== 'opened') return { reader, kind: 'failure', code: 'disagrees', detail: `the process opened it; in process: ${inProcess.code}` };
    return outcome;
  }
  const code = /modelseal: error \[([a-z_]+)\]/.exec(r.stderr)?.[1];
  if (r.code !== 1 || code === undefined) return { reader, kind: 'failure', code: `exit ${r.code}`, detail: r.stderr.slice(0, 2000) };
  if (/\n\s+at .*\.(js|ts):\d+/.test(r.stderr)) return { reader, kind: 'failure', code: 'stack on stderr', detail: r.stderr.slice(0, 2000) };
  const outcome = classifyError(reader, c, new ModelsealError(code as ModelsealError['code'], r.stderr));
  if (outcome.kind === 'refused' && code !== inProcess.code) return { reader, kind: 'failure', code: 'disagrees', detail: `process ${code}, in process ${inProcess.code}` };
  return outcome;
}

/** Runs one case through every reader (`processToo` adds the child-process CLI). */
export async function readCase(c: SoakCase, ctx: ReaderContext, slot: string, processToo: boolean): Promise<Outcome[]> {
  const run = async (reader: ReaderName, work: () => Promise<Outcome>): Promise<Outcome> => {
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      outcome = await withTimeout(work(), ctx.timeoutMs);
    } catch (err) {
      outcome = classifyError(reader, c, err);
    }
    outcome.ms = performance.now() - t0;
    return outcome;
  };
  const outcomes: Outcome[] = [await run('loader', () => loaderRead(c, ctx))];
  const dir = join(ctx.scratch, slot);
  const inCase = await writeCase(c, join(dir, 'case'));
  const verify = await run('verify', () => verifyRead(c, ctx, inCase));
  const out = join(dir, 'out');
  await rm(out, { recursive: true, force: true });
  const open = await run('open', () => openRead(c, ctx, inCase, out));
  outcomes.push(verify, open);
  if (processToo) {
    outcomes.push(await run('cli-verify', () => cliRead('cli-verify', c, ctx, inCase, join(dir, 'cli-out'), verify)));
    await rm(join(dir, 'cli-out'), { recursive: true, force: true });
    outcomes.push(await run('cli-open', () => cliRead('cli-open', c, ctx, inCase, join(dir, 'cli-out'), open)));
    await rm(join(dir, 'cli-out'), { recursive: true, force: true });
  }
  return outcomes;
}
