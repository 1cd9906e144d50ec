// Seeded mutations of a sealed model: bytes of the sealed files, the manifest as an object, and the
// manifest as text. Each case is a pure function of (seed, case number), so it replays alone.
//
// Every step says whether it kept the model's meaning: `same` (the spec says a reader accepts it:
// JSON whitespace, member order, a byte order mark, the header moved inline or out, files renamed
// consistently, a valid keyServer, the other published sealing whole), `maybe` (a random edit the
// harness cannot prove harmful, e.g. a manifest byte edit that JSON.parse reads back to the same
// value), or `changed`. A reader may succeed only when no step changed the meaning, and then only
// with the sealed plaintext; it must succeed when every step is `same`.

import { isDeepStrictEqual } from 'node:util';
import { Rng, type Sealing, type SoakModel } from './corpus.js';

/** Whether a step kept the model's meaning. */
export type Meaning = 'same' | 'maybe' | 'changed';

/** One generated case: the files a reader is given, and what it may conclude. */
export interface SoakCase {
  seed: string;
  index: number;
  model: SoakModel;
  /** The served model.json bytes. */
  manifest: Uint8Array;
  /** Every other file by path relative to model.json. */
  files: Map<string, Uint8Array>;
  steps: string[];
  /** No step changed the meaning: success is allowed (with the sealed plaintext only). */
  mayOpen: boolean;
  /** Every step is one the spec says readers accept: refusal is a failure. */
  mustOpen: boolean;
  /** Loader knobs drawn for this case. */
  loader: { pinModelId: boolean; streamWeights: boolean; piece: number | undefined };
}

/** What mutations work on: the manifest as a JSON value, the files, and raw splices for the text. */
interface Work {
  model: SoakModel;
  rng: Rng;
  manifest: unknown;
  files: Map<string, Uint8Array>;
  /** Placeholder string → raw JSON text spliced in after serialisation (numbers JSON.stringify cannot write, deep nesting). */
  raw: Map<string, string>;
  steps: string[];
  meanings: Meaning[];
  /** The sealing the case started from (the republished one after a whole swap). */
  origin: Sealing;
  /** Meanings of the text steps (the others are re-judged against `origin` at the end). */
  textMeanings: Meaning[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function equal(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function cloneSealing(s: Sealing): { manifest: Obj; files: Map<string, Uint8Array> } {
  return { manifest: JSON.parse(JSON.stringify(s.manifest)) as Obj, files: new Map([...s.files].map(([k, v]) => [k, v.slice()])) };
}

function note(w: Work, step: string, meaning: Meaning): void {
  w.steps.push(step);
  w.meanings.push(meaning);
}

// ---------------------------------------------------------------------------------------------
// Sealed files (header and shards)

/** A sealed file of the current manifest that byte mutations can read and replace. */
interface Target {
  label: string;
  read(): Uint8Array | undefined;
  write(bytes: Uint8Array): void;
}

function targets(w: Work): Target[] {
  const m = w.manifest as Obj;
  const out: Target[] = [];
  const header = m['header'];
  if (isObj(header) && typeof header['data'] === 'string') {
    out.push({ label: 'header(inline)', read: () => new Uint8Array(Buffer.from((m['header'] as Obj)['data'] as string, 'base64url')), write: (b) => { (m['header'] as Obj)['data'] = b64url(b); } });
  } else if (isObj(header) && typeof header['path'] === 'string') {
    const path = header['path'];
    out.push({ label: `header(${path})`, read: () => w.files.get(path), write: (b) => w.files.set(path, b) });
  }
  if (Array.isArray(m['shards'])) {
    for (const s of m['shards'] as unknown[]) {
      if (isObj(s) && typeof s['path'] === 'string') {
        const path = s['path'];
        out.push({ label: path, read: () => w.files.get(path), write: (b) => w.files.set(path, b) });
      }
    }
  }
  return out;
}

/** Offsets worth hitting in a sealed file of `length` bytes with chunk length `C`: head, chunk edges, tags, the end. */
function boundaries(length: number, C: number): number[] {
  const out = new Set<number>([0, 1, 23, 24, 25, 55, 56, 57, 71, 72, length - 17, length - 16, length - 15, length - 1, length]);
  for (let start = 56; start <= length; start += C + 16) {
    for (const d of [-17, -16, -15, -1, 0, 1, 15, 16, 17]) out.add(start + d);
  }
  return [...out].filter((n) => n >= 0 && n <= length).sort((a, b) => a - b);
}

function offset(w: Work, length: number, inclusiveEnd: boolean): number {
  const C = w.model.plain.chunkLength;
  const edges = boundaries(length, C).filter((n) => inclusiveEnd || n < length);
  if (edges.length > 0 && w.rng.chance(0.6)) return w.rng.pick(edges);
  return w.rng.int(inclusiveEnd ? length + 1 : Math.max(1, length));
}

const BYTE_MUTATIONS: Array<[string, (w: Work, b: Uint8Array) => Uint8Array]> = [
  ['bit flip', (w, b) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[offset(w, b.length, false)]! ^= 1 << w.rng.int(8);
    return c;
  }],
  ['bit flips', (w, b) => {
    const c = b.slice();
    for (let i = w.rng.range(2, 8); i > 0 && c.length > 0; i--) c[offset(w, c.length, false)]! ^= 1 << w.rng.int(8);
    return c;
  }],
  ['byte set', (w, b) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[offset(w, b.length, false)] = w.rng.pick([0, 0xff, w.rng.int(256)]);
    return c;
  }],
  ['insert bytes', (w, b) => {
    const at = offset(w, b.length, true);
    return Buffer.concat([b.subarray(0, at), w.rng.bytes(w.rng.pick([1, 1, 2, 3, 16, 17])), b.subarray(at)]);
  }],
  ['delete bytes', (w, b) => {
    const at = offset(w, b.length, false);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + w.rng.pick([1, 1, 2, 3, 16, 17])))]);
  }],
  ['truncate', (w, b) => b.slice(0, offset(w, b.length, false))],
  ['append', (w, b) => {
    const C = w.model.plain.chunkLength;
    const n = w.rng.pick([1, 15, 16, 17, 56, C, C + 16]);
    const tail = w.rng.chance(0.5) ? w.rng.bytes(n) : b.subarray(Math.max(0, b.length - n));
    return Buffer.concat([b, tail]);
  }],
  ['zero fill', (_w, b) => new Uint8Array(b.length)],
  ['random fill', (w, b) => w.rng.bytes(b.length)],
  ['empty', () => new Uint8Array(0)],
  ['chunk spliced from elsewhere', (w, b) => {
    // Replace one chunk with another chunk of the same file (or of another sealed file of this model).
    const C = w.model.plain.chunkLength;
    const chunks = Math.floor((b.length - 56) / (C + 16));
    if (chunks < 1) return b;
    const from = w.rng.int(chunks);
    const to = w.rng.int(chunks);
    const c = b.slice();
    c.set(b.subarray(56 + from * (C + 16), 56 + (from + 1) * (C + 16)), 56 + to * (C + 16));
    return c;
  }],
  ['head from another file', (w, b) => {
    const others = [...w.model.republished.files.values(), ...w.model.base.files.values()];
    const src = others.length ? w.rng.pick(others) : undefined;
    if (!src || b.length < 56) return b;
    const c = b.slice();
    c.set(src.subarray(0, 56));
    return c;
  }],
];

function mutateFileBytes(w: Work): void {
  const list = targets(w);
  if (list.length === 0) return;
  const t = w.rng.pick(list);
  const before = t.read();
  if (!before) return;
  const [name, fn] = w.rng.pick(BYTE_MUTATIONS);
  const after = fn(w, before);
  t.write(new Uint8Array(after));
  note(w, `${name} in ${t.label} (${before.length}→${after.length} bytes)`, equal(before, after) ? 'same' : 'changed');
}

/** Swaps, duplicates, removes shard files, or substitutes a file from another sealing. */
function mutateFileSet(w: Work): void {
  const m = w.manifest as Obj;
  const shards = (m['shards'] as Obj[]).map((s) => s['path'] as string).filter((p) => w.files.has(p));
  // Taking the other sealing whole replaces every file, so it only comes first (else it would undo earlier steps).
  const choice = w.rng.int(w.steps.length === 0 ? 7 : 6);
  const others: Array<[string, Sealing]> = [['republished', w.model.republished], ['unpublished', w.model.unpublished], ['foreign', w.model.foreign]];
  if (choice === 0 && shards.length >= 2) {
    const i = w.rng.int(shards.length);
    const j = (i + 1 + w.rng.int(shards.length - 1)) % shards.length;
    const a = w.files.get(shards[i]!)!;
    w.files.set(shards[i]!, w.files.get(shards[j]!)!);
    w.files.set(shards[j]!, a);
    note(w, `shard files ${i + 1} and ${j + 1} swapped`, 'changed');
  } else if (choice === 1 && shards.length >= 2) {
    const i = w.rng.int(shards.length);
    const j = (i + 1 + w.rng.int(shards.length - 1)) % shards.length;
    w.files.set(shards[j]!, w.files.get(shards[i]!)!.slice());
    note(w, `shard file ${i + 1} copied over shard ${j + 1}`, 'changed');
  } else if (choice === 2 && shards.length >= 1) {
    const i = w.rng.int(shards.length);
    w.files.delete(shards[i]!);
    note(w, `shard file ${i + 1} removed`, 'changed');
  } else if (choice === 3 && shards.length >= 1) {
    // The same shard position from another sealing under the same key.
    const [name, other] = w.rng.pick(others);
    const i = w.rng.int(shards.length);
    const path = other.manifest.shards[i]?.path;
    if (path === undefined) return;
    const theirs = other.files.get(path)!.slice();
    const same = equal(w.files.get(shards[i]!), theirs);
    w.files.set(shards[i]!, theirs);
    note(w, `shard ${i + 1} taken from the ${name} sealing`, same ? 'same' : 'changed');
  } else if (choice === 4) {
    // The header (file or inline, as this manifest has it) from another sealing under the same key.
    const [name, other] = w.rng.pick(others);
    const theirs = 'data' in other.manifest.header ? new Uint8Array(Buffer.from(other.manifest.header.data, 'base64url')) : other.files.get(other.manifest.header.path)!;
    const t = targets(w)[0];
    if (!t) return;
    const same = equal(t.read(), theirs);
    t.write(theirs.slice());
    if (isObj(m['header']) && 'size' in m['header'] && w.rng.chance(0.7)) (m['header'] as Obj)['size'] = theirs.length;
    note(w, `header bytes taken from the ${name} sealing`, same ? 'maybe' : 'changed');
  } else if (choice === 5) {
    // A shard of another model of the corpus (another key) at the same position.
    const other = w.rng.pick(w.model.others);
    const path = other.manifest.shards[0]?.path;
    if (path === undefined || shards.length === 0) return;
    const i = w.rng.int(shards.length);
    w.files.set(shards[i]!, other.files.get(path)!.slice());
    note(w, `shard ${i + 1} replaced by shard 1 of ${other.manifest.modelId}`, 'changed');
  } else if (choice === 6) {
    // Every file of the other published sealing, manifest included: a valid model (same plaintext).
    const { manifest, files } = cloneSealing(w.model.republished);
    w.manifest = manifest;
    w.files = files;
    w.origin = w.model.republished;
    note(w, 'the whole republished sealing (published, same plaintext)', 'same');
  }
}

/** A key-server URL the spec accepts (the field is not bound, so it does not change what opens). */
function validKeyServer(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 2048 || !/^https?:\/\/[^\s?#@]+$/.test(v)) return false;
  try {
    return new URL(v).host !== '';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The manifest as an object

const FIELDS = ['modelseal', 'modelId', 'keyId', 'keyServer', 'chunkLength', 'shardLength', 'sealing', 'header', 'shards'];

function rawValue(w: Work, text: string): string {
  const key = `@@raw${w.raw.size}@@`;
  w.raw.set(key, text);
  return key;
}

function deep(w: Work, depth: number): unknown {
  const open = w.rng.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  return rawValue(w, `${open.repeat(depth)}1${close.repeat(depth)}`);
}

/** Values of every kind: wrong types, extreme numbers, huge strings, deep nesting, and valid values from elsewhere. */
function anyValue(w: Work, field: string): unknown {
  const r = w.rng;
  const m = w.model;
  const other = r.pick(m.others);
  const sealings = [m.republished, m.unpublished, m.foreign, other];
  const generic: Array<() => unknown> = [
    () => null, () => true, () => false, () => 0, () => -1, () => 1.5, () => 2 ** 53, () => 2 ** 53 + 2, () => 1e21, () => -0.0,
    () => rawValue(w, r.pick(['1e400', '-1e400', '1024.0', '1.024e3', '2048e0', '-0', '123456789012345678901234567890', '0.0000001'])),
    () => '', () => 'x', () => 'x'.repeat(r.pick([257, 2049, 100_000])), () => '\u0000', () => '\ud800', () => rawValue(w, '"\\ud800"'),
    () => [], () => ({}), () => [1, 2, 3], () => ({ path: 'x', size: 1 }), () => deep(w, r.pick([64, 5000, 100_000])),
    () => Array.from({ length: r.pick([10, 1000, 100_001]) }, () => 0),
    () => String(r.pick([1024, 2048])),
  ];
  const valid: Record<string, Array<() => unknown>> = {
    modelseal: [() => 'modelseal/1', () => 'modelseal/3', () => 'MODELSEAL/2', () => 'modelseal/2 ', () => 'modelseal/2\u0000'],
    modelId: [() => other.manifest.modelId, () => `${m.plain.modelId}x`, () => 'a'.repeat(129), () => '../etc', () => m.plain.modelId.toUpperCase(), () => `${m.plain.modelId}\n`],
    keyId: [() => 'k2', () => 'k0', () => 'K1', () => other.manifest.keyId, () => 'k1 '],
    keyServer: [() => 'https://keys.example.com', () => 'http://127.0.0.1:1', () => 'ftp://keys', () => 'https://u:p@keys.example.com', () => 'https://keys.example.com/?x', () => `https://${'a'.repeat(3000)}.com`, () => 'https://'],
    chunkLength: [() => 1023, () => 2048, () => 4096, () => 16 * 1024 * 1024, () => 16 * 1024 * 1024 + 1, () => other.manifest.chunkLength, () => 512],
    shardLength: [() => other.manifest.shardLength, () => m.plain.shardLength * 2, () => m.plain.shardLength + m.plain.chunkLength, () => m.plain.chunkLength, () => 2 ** 50, () => m.plain.shardLength + 1],
    sealing: [() => r.pick(sealings).manifest.sealing, () => b64url(r.bytes(32)), () => `${m.base.manifest.sealing.slice(0, 42)}B`, () => m.base.manifest.sealing.slice(1), () => `${m.base.manifest.sealing}A`, () => m.base.manifest.sealing.replace(/-/g, '+')],
    header: [() => JSON.parse(JSON.stringify(r.pick(sealings).manifest.header)), () => ({ data: '' }), () => ({ path: 'header.sealed' }), () => ({ path: 'header.sealed', size: 1, data: 'AA' }), () => ({ data: 'AA==' }), () => ({ data: 'A' }), () => ({ data: '+/+/' })],
    shards: [() => JSON.parse(JSON.stringify(r.pick(sealings).manifest.shards)), () => [], () => Array.from({ length: 100_001 }, (_, i) => ({ path: `s${i}`, size: 72 }))],
  };
  const own = valid[field];
  const pool = own && r.chance(0.5) ? own : generic;
  return r.pick(pool)();
}

function pathValue(w: Work): unknown {
  const r = w.rng;
  const existing = [...w.files.keys()];
  return r.pick<() => unknown>([
    () => '../x.sealed', () => '/etc/passwd', () => 'a/../b', () => './x', () => 'a//b', () => 'x?y', () => '%2e%2e/x', () => 'a\\b', () => 'é.sealed', () => 'x'.repeat(257),
    () => 'https://evil.example/x', () => '', () => 'model.json', () => (existing.length ? r.pick(existing) : 'x'), () => 'missing.sealed', () => 5, () => null,
  ])();
}

function sizeValue(w: Work, size: number): unknown {
  return w.rng.pick<() => unknown>([() => size + 1, () => size - 1, () => size + 16, () => size - 16, () => 0, () => -1, () => size + 0.5, () => 2 ** 53, () => 64 * 1024 * 1024 + 1, () => String(size), () => null])();
}

function mutateManifest(w: Work): void {
  const r = w.rng;
  if (!isObj(w.manifest)) return;
  const m = w.manifest;
  const before = JSON.parse(JSON.stringify(m)) as unknown;
  const rawBefore = w.raw.size;
  const kind = r.int(12);
  let step: string;
  let specSame = false;
  const shards = Array.isArray(m['shards']) ? (m['shards'] as unknown[]) : undefined;
  if (kind <= 2) {
    const field = r.pick(FIELDS);
    m[field] = anyValue(w, field);
    step = `manifest ${field} set to ${describe(m[field])}`;
  } else if (kind === 3) {
    const field = r.pick(FIELDS);
    delete m[field];
    step = `manifest ${field} removed`;
  } else if (kind === 4) {
    const where = r.int(3);
    const name = r.pick(['weightsManifest', 'extra', '__proto__', 'constructor', 'Modelseal', 'modelseal ', 'x'.repeat(1000)]);
    const value = anyValue(w, 'extra');
    // defineProperty, so that "__proto__" becomes a member, as JSON.parse makes it.
    const put = (o: Obj) => Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
    const entry = shards?.length ? shards[r.int(shards.length)] : undefined;
    if (where === 1 && isObj(m['header'])) put(m['header'] as Obj);
    else if (where === 2 && isObj(entry)) put(entry);
    else put(m);
    step = `unknown member ${JSON.stringify(name.slice(0, 20))} added (${['top level', 'header', 'shard entry'][where]})`;
  } else if (kind === 5 && shards) {
    const op = r.int(6);
    if (op === 0 && shards.length >= 2) {
      const i = r.int(shards.length - 1);
      [shards[i], shards[i + 1]] = [shards[i + 1], shards[i]];
      step = `shard entries ${i + 1} and ${i + 2} swapped`;
    } else if (op === 1 && shards.length >= 1) {
      shards.splice(r.int(shards.length), 1);
      step = 'a shard entry dropped';
    } else if (op === 2 && shards.length >= 1) {
      const i = r.int(shards.length);
      shards.splice(i, 0, JSON.parse(JSON.stringify(shards[i])));
      step = `shard entry ${i + 1} duplicated`;
    } else if (op === 3) {
      shards.push({ path: `extra-${r.int(9)}.sealed`, size: r.pick([0, 72, 1096]) });
      if (r.chance(0.5)) w.files.set((shards.at(-1) as Obj)['path'] as string, r.bytes((shards.at(-1) as Obj)['size'] as number));
      step = 'an extra shard entry appended';
    } else if (op === 4 && shards.length >= 1 && isObj(shards[0])) {
      const s = shards[r.int(shards.length)] as Obj;
      s['size'] = sizeValue(w, Number(s['size']));
      step = `a shard size set to ${describe(s['size'])}`;
    } else if (shards.length >= 1 && isObj(shards[0])) {
      const s = shards[r.int(shards.length)] as Obj;
      s['path'] = pathValue(w);
      step = `a shard path set to ${describe(s['path'])}`;
    } else {
      step = 'shards left alone';
    }
  } else if (kind === 6 && isObj(m['header'])) {
    const h = m['header'] as Obj;
    if ('size' in h && r.chance(0.5)) {
      h['size'] = sizeValue(w, Number(h['size']));
      step = `header.size set to ${describe(h['size'])}`;
    } else if ('path' in h) {
      h['path'] = pathValue(w);
      step = `header.path set to ${describe(h['path'])}`;
    } else {
      const data = String(h['data']);
      const at = r.int(Math.max(1, data.length));
      const edits = [
        () => `${data}=`, () => `${data}A`, () => data.slice(0, -1), () => `${data.slice(0, at)}${r.pick(['+', '/', '=', '.', ' ', '\n', 'A', '_'])}${data.slice(at + 1)}`,
        () => data.slice(0, at), () => `${data.slice(0, -1)}${data.at(-1) === 'A' ? 'B' : 'A'}`,
      ];
      h['data'] = r.pick(edits)();
      step = 'header.data edited as text';
    }
  } else if (kind === 7) {
    // Move the header inline ↔ file (the spec says readers accept both forms).
    // Only a well-formed header moves: moving it must not undo an earlier step's edit of it.
    const t = targets(w)[0];
    const bytes = t?.label.startsWith('header') ? t.read() : undefined;
    const h = m['header'];
    if (!bytes || !isObj(h)) return;
    const keys = Object.keys(h).sort().join();
    if (!(keys === 'data' && h['data'] === b64url(bytes)) && !(keys === 'path,size' && h['size'] === bytes.length)) return;
    if ('data' in (m['header'] as Obj)) {
      const path = r.pick(['header.sealed', 'h/eader.bin', 'x-header']);
      m['header'] = { path, size: bytes.length };
      w.files.set(path, bytes);
      step = `header moved to file ${path}`;
    } else {
      if (r.chance(0.5)) w.files.delete((m['header'] as Obj)['path'] as string);
      m['header'] = { data: b64url(bytes) };
      step = 'header moved inline';
    }
    specSame = true;
  } else if (kind === 8 && shards) {
    // Rename every file consistently (names are not bound; contents are).
    const rename = new Map<string, string>();
    const prefix = r.pick(['renamed/', 'x-', 'deep/er/']);
    for (const s of shards) if (isObj(s) && typeof s['path'] === 'string') rename.set(s['path'], `${prefix}${s['path']}`);
    if (isObj(m['header']) && typeof (m['header'] as Obj)['path'] === 'string') rename.set((m['header'] as Obj)['path'] as string, `${prefix}hdr`);
    for (const [from, to] of rename) {
      const bytes = w.files.get(from);
      w.files.delete(from);
      if (bytes) w.files.set(to, bytes);
    }
    for (const s of shards) if (isObj(s) && typeof s['path'] === 'string') s['path'] = rename.get(s['path']);
    if (isObj(m['header']) && typeof (m['header'] as Obj)['path'] === 'string') (m['header'] as Obj)['path'] = rename.get((m['header'] as Obj)['path'] as string);
    step = `every file renamed with prefix ${prefix}`;
    specSame = true;
  } else if (kind === 9) {
    // Member order shuffled at every level (JSON objects are unordered).
    w.manifest = shuffleKeys(w, m);
    step = 'members reordered';
    specSame = true;
  } else if (kind === 10) {
    if (r.chance(0.5) && 'keyServer' in m) delete m['keyServer'];
    else m['keyServer'] = r.pick(['https://keys.example.com', 'http://127.0.0.1:8787', 'https://other.example/keys/']);
    step = `keyServer ${'keyServer' in m ? `set to ${String(m['keyServer'])}` : 'removed'} (not bound; the loader is given its own)`;
    specSame = true;
  } else {
    // Another model's or sealing's values for the size fields: valid shapes, wrong meaning.
    const other = r.pick([...w.model.others, w.model.foreign, w.model.unpublished]);
    const field = r.pick(['shards', 'header', 'chunkLength', 'shardLength', 'sealing', 'modelId']);
    m[field] = JSON.parse(JSON.stringify((other.manifest as unknown as Obj)[field] ?? null));
    step = `${field} taken from ${other.manifest.modelId} (${other === w.model.foreign ? 'foreign' : other === w.model.unpublished ? 'unpublished' : 'other model'})`;
  }
  const after = JSON.parse(JSON.stringify(w.manifest)) as unknown;
  const unchanged = w.raw.size === rawBefore && isDeepStrictEqual(after, before);
  // Only keyServer differs, and it is a valid URL: readers that are given their key server ignore it.
  const withoutKeyServer = (v: unknown) => (isObj(v) ? { ...v, keyServer: undefined } : v);
  const onlyKeyServer = !unchanged && w.raw.size === rawBefore && isObj(after) && (after['keyServer'] === undefined || validKeyServer(after['keyServer'])) && isDeepStrictEqual(withoutKeyServer(after), withoutKeyServer(before));
  note(w, step, specSame || unchanged ? 'same' : onlyKeyServer ? 'maybe' : 'changed');
}

function shuffleKeys(w: Work, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(w, v));
  if (!isObj(value)) return value;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = w.rng.int(i + 1);
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  const out: Obj = {};
  for (const k of keys) out[k] = shuffleKeys(w, value[k]);
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string' && v.startsWith('@@raw')) return 'raw JSON';
  const s = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `array(${v.length})` : isObj(v) ? 'object' : String(v);
  return s.length > 40 ? `${s.slice(0, 37)}…(${s.length})` : s;
}

// ---------------------------------------------------------------------------------------------
// The manifest as text

function serialise(w: Work): string {
  const indent = w.rng.pick([undefined, 2, '\t', 1]);
  let text = JSON.stringify(w.manifest, null, indent);
  for (const [key, raw] of w.raw) text = text.split(JSON.stringify(key)).join(raw);
  return text;
}

const enc = new TextEncoder();

/** Text-level edits: BOM, encodings, duplicates, number spellings, padding, random bytes. */
function mutateText(w: Work, text: string): Uint8Array {
  const r = w.rng;
  const bytes = enc.encode(text);
  const kind = r.int(14);
  const at = r.int(bytes.length + 1);
  const splice = (insert: Uint8Array, del = 0) => Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(Math.min(bytes.length, at + del))]);
  let out: Uint8Array;
  let step: string;
  let meaning: Meaning;
  if (kind === 0) {
    out = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
    step = 'a UTF-8 byte order mark prepended';
    // One mark is ignored; a second one (an earlier step or the text's own) makes it invalid.
    meaning = text.startsWith('\uFEFF') ? 'changed' : 'same';
  } else if (kind === 1) {
    out = r.pick<() => Uint8Array>([
      () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), bytes]),
      () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
      () => Buffer.from(text, 'utf16le'),
      () => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]),
    ])();
    step = 'double BOM or UTF-16';
    meaning = 'changed';
  } else if (kind === 2) {
    out = splice(Buffer.from(r.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]])));
    step = `invalid UTF-8 inserted at byte ${at}`;
    meaning = 'changed';
  } else if (kind === 3) {
    out = bytes.slice(0, r.int(bytes.length));
    step = `text truncated to ${out.length} bytes`;
    meaning = parsesSame(bytes, out);
  } else if (kind === 4) {
    // A member of the top-level object repeated (the strict JSON rule refuses it even with the same value).
    const name = r.pick(FIELDS);
    const value = JSON.stringify(isObj(w.manifest) && name in w.manifest ? (w.manifest as Obj)[name] : 'x');
    const dup = r.chance(0.5) ? value : JSON.stringify(anyValueText(w));
    const brace = text.indexOf('{');
    out = enc.encode(`${text.slice(0, brace + 1)}${r.chance(0.3) ? `"${name.replace(/e/, '\\u0065')}"` : JSON.stringify(name)}:${dup},${text.slice(brace + 1)}`);
    step = `duplicate member ${name}`;
    meaning = 'changed';
  } else if (kind === 5) {
    // Whitespace: between tokens it is meaningless, up to the 1 MiB limit.
    const big = r.chance(0.2);
    // Past the limit by 1 to 3 bytes (an earlier step may already have padded past it).
    const pad = big ? ' '.repeat(Math.max(1, 1024 * 1024 + 1 - bytes.length + r.int(3))) : r.pick(['\n', '\r\n', '\t', '    ']).repeat(r.range(1, 50));
    // Whitespace goes after a leading byte order mark, which must stay first to be ignored.
    const lead = text.startsWith('\uFEFF') ? 3 : 0;
    out = r.chance(0.5) ? Buffer.concat([bytes, enc.encode(pad)]) : Buffer.concat([bytes.subarray(0, lead), enc.encode(pad), bytes.subarray(lead)]);
    step = `${pad.length} whitespace characters added`;
    // Over the 1 MiB limit the manifest must be refused; that is judged on the final bytes.
    meaning = big ? 'maybe' : 'same';
  } else if (kind === 6) {
    out = Buffer.concat([bytes, enc.encode(r.pick(['x', '{}', '0', '\u0000', ',', '// comment', 'null']))]);
    step = 'garbage after the document';
    meaning = parsesSame(bytes, out);
  } else if (kind === 7) {
    // An ASCII string value escaped differently (same string).
    const m = /"(k1|modelseal\/2|soak-[a-d])"/.exec(text);
    if (!m) return mutateTextRandom(w, bytes);
    const escaped = [...m[1]!].map((c, i) => (i === 0 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c === '/' ? '\\/' : c)).join('');
    out = enc.encode(`${text.slice(0, m.index)}"${escaped}"${text.slice(m.index + m[0].length)}`);
    step = `${m[0]} written with escapes`;
    meaning = 'same';
  } else if (kind === 8) {
    // A number spelled another way JSON.parse reads the same (the format wants plain integers).
    const m = /:(\s*)(\d+)/.exec(text);
    if (!m) return mutateTextRandom(w, bytes);
    const spelled = r.pick([`${m[2]}.0`, `${m[2]}e0`, `${m[2]}E+0`, `0${m[2]}`, `-${m[2]}`, `${m[2]}.`, `+${m[2]}`]);
    out = enc.encode(`${text.slice(0, m.index)}:${m[1]}${spelled}${text.slice(m.index + m[0].length)}`);
    step = `number ${m[2]} spelled ${spelled}`;
    meaning = 'changed';
  } else if (kind === 9) {
    out = enc.encode(r.pick(['', 'null', '[]', '{}', '"modelseal/2"', '1', w.model.plain.modelJsonText, '{"modelseal":"modelseal/2"}', `[${text}]`]));
    step = 'the document replaced';
    meaning = 'changed';
  } else if (kind === 10) {
    out = enc.encode(text.replace(/,(\s*[}\]])|([}\]])/, (_all, a, b) => (a ? `,,${a}` : `,${b}`)));
    step = 'a trailing comma';
    meaning = parsesSame(bytes, out);
  } else {
    return mutateTextRandom(w, bytes);
  }
  note(w, step, meaning);
  w.textMeanings.push(meaning);
  return out;
}

function anyValueText(w: Work): unknown {
  return w.rng.pick<unknown>([null, 0, 'x', [], {}, 'k2', 2048]);
}

/** 'maybe' when `after` still reads (JSON.parse, one BOM allowed) as `before` does, keyServer aside when valid; else 'changed'. */
function parsesSame(before: Uint8Array, after: Uint8Array): Meaning {
  try {
    const read = (b: Uint8Array) => {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(b);
      return JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) as unknown;
    };
    const a = read(before);
    const b = read(after);
    if (isDeepStrictEqual(a, b)) return 'maybe';
    const strip = (v: unknown) => (isObj(v) ? { ...v, keyServer: undefined } : v);
    if (isObj(b) && (b['keyServer'] === undefined || validKeyServer(b['keyServer'])) && isDeepStrictEqual(strip(a), strip(b))) return 'maybe';
  } catch {
    // not text or not JSON: the meaning changed
  }
  return 'changed';
}

/** A random byte edit of the text; it kept the meaning only if JSON.parse reads the same value back. */
function mutateTextRandom(w: Work, bytes: Uint8Array): Uint8Array {
  const r = w.rng;
  const at = r.int(Math.max(1, bytes.length));
  let out: Uint8Array;
  const op = r.int(3);
  if (op === 0 && bytes.length > 0) {
    out = bytes.slice();
    out[at]! ^= 1 << r.int(8);
  } else if (op === 1) {
    out = Buffer.concat([bytes.subarray(0, at), Buffer.from([r.pick([0x20, 0x0a, 0x22, 0x2c, 0x7b, 0x5c, 0x30, r.int(256)])]), bytes.subarray(at)]);
  } else {
    out = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + r.range(1, 4))]);
  }
  const meaning = parsesSame(bytes, out);
  note(w, `random ${['bit flip', 'byte insert', 'byte delete'][op]} at manifest byte ${at}`, meaning);
  w.textMeanings.push(meaning);
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Builds case `index` of `seed`: 1 to 3 steps over the sealed files, the manifest and its text. */
export function makeCase(seed: string, index: number, corpus: SoakModel[]): SoakCase {
  const rng = new Rng(`case/${seed}/${index}`);
  const model = corpus[rng.int(corpus.length)]!;
  const { manifest, files } = cloneSealing(model.base);
  const w: Work = { model, rng, manifest, files, raw: new Map(), steps: [], meanings: [], origin: model.base, textMeanings: [] };
  // A few controls: the files exactly as sealed (every reader must open them).
  const control = rng.chance(0.01);
  if (!control) {
    const steps = rng.pick([1, 1, 1, 2, 2, 3]);
    const plan = Array.from({ length: steps }, () => rng.pick(['bytes', 'bytes', 'set', 'manifest', 'manifest', 'manifest', 'text', 'text']));
    // Files first (they need a well-formed manifest), then the object, then the text.
    const order = { bytes: 0, set: 1, manifest: 2, text: 3 } as const;
    plan.sort((a, b) => order[a as keyof typeof order] - order[b as keyof typeof order]);
    let text: Uint8Array | undefined;
    for (const p of plan) {
      if (p === 'bytes') mutateFileBytes(w);
      else if (p === 'set') mutateFileSet(w);
      else if (p === 'manifest') mutateManifest(w);
      // ignoreBOM keeps a byte order mark an earlier text step added (the default decoder drops one).
      else text = mutateText(w, text ? new TextDecoder('utf-8', { ignoreBOM: true }).decode(text) : serialise(w));
    }
    const manifestBytes = text ?? enc.encode(serialise(w));
    if (w.steps.length === 0) note(w, 'no applicable step (control)', 'same');
    return finish(w, seed, index, manifestBytes);
  }
  note(w, 'control: the files exactly as sealed', 'same');
  return finish(w, seed, index, enc.encode(serialise(w)));
}

/** True when the manifest object and the files are exactly the origin's again (later steps undid earlier ones). */
function backToOrigin(w: Work, ignoreKeyServer: boolean): boolean {
  const strip = (v: unknown) => (ignoreKeyServer && isObj(v) ? { ...v, keyServer: undefined } : v);
  const now = JSON.parse(JSON.stringify(w.manifest)) as unknown;
  if (ignoreKeyServer && isObj(now) && now['keyServer'] !== undefined && !validKeyServer(now['keyServer'])) return false;
  if (w.raw.size > 0 || !isDeepStrictEqual(strip(now), strip(JSON.parse(JSON.stringify(w.origin.manifest))))) return false;
  if (w.files.size !== w.origin.files.size) return false;
  return [...w.origin.files].every(([path, bytes]) => equal(w.files.get(path), bytes));
}

function finish(w: Work, seed: string, index: number, manifest: Uint8Array): SoakCase {
  const r = w.rng;
  // Steps are judged one by one, against the state before each; if together they left the files
  // and the manifest object exactly as sealed, only the text steps can have changed the meaning.
  const meanings = backToOrigin(w, false) ? w.textMeanings : backToOrigin(w, true) ? [...w.textMeanings, 'maybe' as const] : w.meanings;
  const withinLimit = manifest.length <= 1024 * 1024;
  return {
    seed, index, model: w.model, manifest, files: w.files, steps: w.steps,
    mayOpen: withinLimit && meanings.every((m) => m !== 'changed'),
    mustOpen: withinLimit && meanings.every((m) => m === 'same'),
    loader: { pinModelId: r.chance(0.25), streamWeights: r.chance(0.15), piece: r.chance(0.5) ? undefined : r.pick([1, 7, 56, 57, 1040, 1041, 3000]) },
  };
}
