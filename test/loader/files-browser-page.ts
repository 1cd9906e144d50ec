// The page script of the generic-form browser test, bundled by esbuild with the loader only (no
// runtime): it opens a sealed folder and returns each file's SHA-256 (also with every pin set, logging
// the order of its requests), and streams one file.

import { openSealedFiles, openSealedFileStream } from '../../loader/index.js';
import { releaseFirstFetch, sha256 } from './page-common.js';

/** Opens every file; returns path → [length, SHA-256], the progress fractions, and what storage holds after. */
async function openAll(url: string, token: string, keyServer: string): Promise<{ files: Array<[string, number, string]>; fractions: number[]; caches: string[]; databases: string[] }> {
  const fractions: number[] = [];
  const files = await openSealedFiles(url, { token, keyServer, onProgress: (f) => fractions.push(f) });
  const out: Array<[string, number, string]> = [];
  for (const [path, bytes] of files) out.push([path, bytes.length, await sha256(bytes)]);
  const dbs = await indexedDB.databases();
  return { files: out, fractions, caches: await caches.keys(), databases: dbs.map((d) => d.name ?? '') };
}

/** Streams one file; returns its length and SHA-256, or the error's code. */
async function streamOne(url: string, path: string, token: string, keyServer: string): Promise<{ length: number; sha256: string } | { code: string | undefined }> {
  try {
    const reader = (await openSealedFileStream(url, path, { token, keyServer })).getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      whole.set(p, at);
      at += p.length;
    }
    return { length: whole.length, sha256: await sha256(whole) };
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
}

/** Opens every file with every pin set: path → [length, SHA-256], and the order of the requests (the manifest answered only after the release is sent, at most 5 s). */
async function openPinned(url: string, token: string, keyServer: string, pins: { modelId: string; keyId: string; sealing: string }): Promise<{ files: Array<[string, number, string]>; log: string[] }> {
  const log: string[] = [];
  const files = await openSealedFiles(url, { token, keyServer, ...pins, fetch: releaseFirstFetch(log) });
  const out: Array<[string, number, string]> = [];
  for (const [path, bytes] of files) out.push([path, bytes.length, await sha256(bytes)]);
  return { files: out, log };
}

/** Opens every file from the app's own copy of the manifest (options.manifest): path → [length, SHA-256], and every URL requested. */
async function openGiven(url: string, token: string, keyServer: string, manifest: string): Promise<{ files: Array<[string, number, string]>; requested: string[] }> {
  const requested: string[] = [];
  const files = await openSealedFiles(url, { token, keyServer, manifest, fetch: (input, init) => (requested.push(input), fetch(input, init)) });
  const out: Array<[string, number, string]> = [];
  for (const [path, bytes] of files) out.push([path, bytes.length, await sha256(bytes)]);
  return { files: out, requested };
}

Object.assign(globalThis, { modelsealFilesTest: { openAll, streamOne, openPinned, openGiven } });
