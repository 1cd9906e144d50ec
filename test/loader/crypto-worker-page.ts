// The page script of the crypto-worker test, bundled by esbuild with the loader and @tensorflow/tfjs.
// Before any load it wraps two real browser APIs of the page's own realm, to see what happens
// where: SubtleCrypto.prototype.decrypt (main-thread decrypt calls; the worker's realm has its own,
// unwrapped) and Worker.prototype.postMessage (what the loader sends its worker: chunks and keys).

import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';
import { openSealedFiles } from '../../loader/index.js';
import { errorOf, fingerprint, sha256, type ModelFingerprint } from './page-common.js';

/** What a load did: main-thread decrypt calls, chunks posted to a worker, keys posted and how they look. */
export interface Counts {
  mainDecrypts: number;
  opens: number;
  keys: Array<{ type: string; extractable: boolean; algorithm: string; usages: string[] }>;
  /** Binary fields of posted messages other than a chunk's `iv` (12 bytes) and `data`: none expected. */
  otherBinary: string[];
}

const counts: Counts = { mainDecrypts: 0, opens: 0, keys: [], otherBinary: [] };
const postedKeys: CryptoKey[] = [];
/**
 * The n-th chunk posted: `error` makes the worker look failed right after it is posted (an `error`
 * event on it); `unknown-key` posts it under a file id the worker has no key for (the worker's
 * own failure, not the chunk's).
 */
let fault: { at: number; kind: 'error' | 'unknown-key' } | undefined;

const decrypt = SubtleCrypto.prototype.decrypt;
SubtleCrypto.prototype.decrypt = function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto['decrypt']>) {
  counts.mainDecrypts++;
  return decrypt.apply(this, args);
};

const post = Worker.prototype.postMessage as (this: Worker, message: unknown, transfer?: Transferable[]) => void;
Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: Transferable[]) {
  const m = message as Record<string, unknown>;
  for (const [field, value] of Object.entries(m)) {
    if (value instanceof CryptoKey) {
      postedKeys.push(value);
      counts.keys.push({ type: value.type, extractable: value.extractable, algorithm: value.algorithm.name, usages: [...value.usages] });
    } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      const ok = (field === 'iv' && value.byteLength === 12) || field === 'data';
      if (!ok) counts.otherBinary.push(`${String(m['t'])}.${field} (${value.byteLength} bytes)`);
    }
  }
  const faulty = m['t'] === 'open' && ++counts.opens === fault?.at ? fault.kind : undefined;
  post.call(this, faulty === 'unknown-key' ? { ...m, f: -1 } : message, transfer);
  if (faulty === 'error') this.dispatchEvent(new Event('error'));
} as typeof Worker.prototype.postMessage;

function take(): Counts {
  const c = { ...counts, keys: [...counts.keys], otherBinary: [...counts.otherBinary] };
  Object.assign(counts, { mainDecrypts: 0, opens: 0, keys: [], otherBinary: [] });
  return c;
}

interface Options { token: string; keyServer: string; streamWeights?: boolean; decryptWorker?: boolean }

/** Loads the sealed graph model; its fingerprint and what the load did. */
async function load(url: string, options: Options, withFault?: typeof fault): Promise<ModelFingerprint & { counts: Counts }> {
  await tf.setBackend('cpu');
  take();
  fault = withFault;
  try {
    const model = await tf.loadGraphModel(sealedModel(url, options));
    const counted = take();
    return { ...(await fingerprint(tf, model)), counts: counted };
  } finally {
    fault = undefined;
  }
}

/** Loads and returns the error's code, or null. */
async function tryLoad(url: string, options: Options, withFault?: typeof fault): Promise<{ code: string | undefined; message: string; counts: Counts } | null> {
  await tf.setBackend('cpu');
  take();
  fault = withFault;
  try {
    (await tf.loadGraphModel(sealedModel(url, options))).dispose();
    return null;
  } catch (err) {
    return { ...errorOf(err), counts: take() };
  } finally {
    fault = undefined;
  }
}

/** openSealedFiles: SHA-256 of each file, and what the load did. */
async function files(url: string, options: Options): Promise<{ digests: Record<string, string>; counts: Counts }> {
  take();
  const opened = await openSealedFiles(url, options);
  const digests: Record<string, string> = {};
  for (const [path, bytes] of opened) digests[path] = await sha256(bytes);
  return { digests, counts: take() };
}

/** Hands every key the loader posted to a second worker of this page, which tries to export it. */
async function probeKeys(): Promise<Array<{ extractable: boolean; exported: boolean; error: string }>> {
  const source = `onmessage = async (e) => {
    try { await crypto.subtle.exportKey('raw', e.data); postMessage({ extractable: e.data.extractable, exported: true, error: '' }); }
    catch (err) { postMessage({ extractable: e.data.extractable, exported: false, error: err.name }); }
  };`;
  const probe = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
  const results = [];
  for (const key of postedKeys) {
    results.push(await new Promise<{ extractable: boolean; exported: boolean; error: string }>((resolve) => {
      probe.onmessage = (e) => resolve(e.data);
      post.call(probe, key);
    }));
  }
  probe.terminate();
  return results;
}

const loadPlain = async (url: string) => {
  await tf.setBackend('cpu');
  return fingerprint(tf, await tf.loadGraphModel(url));
};

Object.assign(globalThis, { workerTest: { load, tryLoad, files, probeKeys, loadPlain } });
