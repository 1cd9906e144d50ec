// The one way the tests check a refusal: a ModelsealError's code and message (thrown in process), a
// CLI's `modelseal: error [code]: …` line and exit status, or a key server's JSON error and status.

import { expect } from 'vitest';
import { isModelsealError, type ErrorCode, type ModelsealError } from '../../format/index.js';

type Fields = Partial<Pick<ModelsealError, 'serverCode' | 'status' | 'retryAfter' | 'file' | 'chunk'>>;

function expectText(text: string, expected: string | RegExp | undefined): void {
  if (expected === undefined) return;
  if (typeof expected === 'string') expect(text).toContain(expected);
  else expect(text).toMatch(expected);
}

/** The ModelsealError that `action` throws or rejects with; fails the test on success and rethrows any other error. */
export async function caughtModelsealError(action: Promise<unknown> | (() => unknown)): Promise<ModelsealError> {
  let err: unknown;
  let settled = false;
  try {
    await (typeof action === 'function' ? action() : action);
    settled = true;
  } catch (e) {
    err = e;
  }
  if (settled) throw new Error('expected a ModelsealError, got success');
  if (!isModelsealError(err)) throw err instanceof Error ? err : new Error(`expected a ModelsealError, got ${String(err)}`);
  return err;
}

/** Asserts that `action` fails with a ModelsealError of `code` whose message contains or matches `message`, with `fields`; returns it. */
export async function expectCode(action: Promise<unknown> | (() => unknown), code: ErrorCode, message?: string | RegExp, fields: Fields = {}): Promise<ModelsealError> {
  const err = await caughtModelsealError(action);
  expect(err.code, err.message).toBe(code);
  expectText(err.message, message);
  expect(err).toMatchObject(fields);
  return err;
}

/** Asserts that synchronous `action` throws a ModelsealError of `code` whose message contains or matches `message`; returns it. */
export function expectCodeSync(action: () => unknown, code: ErrorCode, message?: string | RegExp): ModelsealError {
  let err: unknown;
  try {
    action();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected ${code}, got success`);
  if (!isModelsealError(err)) throw err instanceof Error ? err : new Error(`expected a ModelsealError, got ${String(err)}`);
  expect(err.code, err.message).toBe(code);
  expectText(err.message, message);
  return err;
}

/** A finished CLI run as test/cli/helpers.ts `run` returns it. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Asserts a CLI run exited `exit` with `modelseal: error [code]: ` and `message` on stderr, and nothing on stdout; returns stderr. */
export function expectCliCode(r: CliResult, exit: number, code: string, message?: string | RegExp): string {
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(`modelseal: error [${code}]: `);
  expectText(r.stderr, message);
  return r.stderr;
}

/** A key-server answer: its status, headers and parsed JSON body. */
export interface WireAnswer {
  status: number;
  headers: Headers;
  json: unknown;
}

/**
 * Asserts a key-server answer is `status` with error `code` and a message containing `part`,
 * not cached, and with no stack trace in the body; returns the error.
 */
export function expectWireCode(r: WireAnswer, status: number, code: string, part?: string | RegExp): { code: string; message: string } {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  const error = (r.json as { error?: { code: string; message: string } }).error;
  expect(error?.code).toBe(code);
  expect(typeof error?.message).toBe('string');
  expectText(error!.message, part);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(JSON.stringify(r.json)).not.toMatch(/\bat .*\.(ts|js):\d+|stack/);
  return error!;
}
