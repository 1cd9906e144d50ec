// The master key in an HSM: an AES-256 key inside a PKCS#11 token (RFC 7512 URI) wraps and unwraps
// content keys with CKM_AES_GCM in C_Encrypt/C_Decrypt, so its value never leaves the token.
// The binding (pkcs11js, a native addon) is an optional dependency, loaded only here.

import { createHash, randomBytes } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { ModelsealError } from '../../format/errors.js';
import { readRegularTextSync } from '../regular-file.js';
import { redactUri } from './redact.js';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';

/** Environment variable holding the token PIN when the URI has no pin-source. */
export const PIN_ENV = 'MODELSEAL_PKCS11_PIN';
/** Environment variable naming the PKCS#11 module when the URI has no module-path. */
export const MODULE_ENV = 'MODELSEAL_PKCS11_MODULE';

const PATH_ATTRIBUTES = new Set(['token', 'manufacturer', 'serial', 'model', 'library-manufacturer', 'library-description', 'library-version', 'object', 'type', 'id', 'slot-id', 'slot-description', 'slot-manufacturer']);
const QUERY_ATTRIBUTES = new Set(['pin-source', 'pin-value', 'module-name', 'module-path']);
// After a failed reconnection, wait this long before trying the token again (requests fail fast meanwhile).
const RETRY_MS = 1000;

// CKR_* values (PKCS#11 2.40) this file tells apart.
const CKR_USER_ALREADY_LOGGED_IN = 0x100;
const CKR_PIN_INCORRECT = 0xa0;
const CKR_PIN_LOCKED = 0xa4;
const CKR_ATTRIBUTE_SENSITIVE = 0x11;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
// A decryption that fails for one of these may be a wrong key or altered bytes (SoftHSM2 reports a bad GCM tag as GENERAL_ERROR).
const MAYBE_WRONG_KEY = new Set([0x05, 0x06, 0x40, 0x41]);

/** The parts of an RFC 7512 PKCS#11 URI this provider uses. */
export interface Pkcs11Uri {
  /** Path attributes (token, object, id as raw bytes in hex, serial, slot-id, …), percent-decoded. */
  path: Record<string, string>;
  /** Query attributes (module-path, pin-source, …), percent-decoded. */
  query: Record<string, string>;
}

function invalid(uri: string, message: string): ModelsealError {
  return new ModelsealError('config_invalid', `master key ${JSON.stringify(redactUri(uri))}: ${message}`);
}

function pctDecode(uri: string, s: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) throw invalid(uri, `"${s.slice(0, 40)}" has a bad percent-encoding`);
  return decodeURIComponent(s);
}

/**
 * Parses an RFC 7512 URI. Refuses a PIN in the URI (`pin-value`), unknown attributes (typos),
 * and repeated ones. `id` is kept as hex of its bytes.
 */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(uri)) throw invalid(uri, 'a PKCS#11 URI starts with pkcs11:');
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const pathPart = q < 0 ? body : body.slice(0, q);
  const queryPart = q < 0 ? '' : body.slice(q + 1);
  const read = (part: string, sep: string, known: Set<string>, kind: string): Record<string, string> => {
    const out: Record<string, string> = {};
    if (part === '') return out;
    for (const item of part.split(sep)) {
      const eq = item.indexOf('=');
      if (eq <= 0) throw invalid(uri, `"${item.slice(0, 40)}" is not name=value (${kind} attributes are separated by "${sep}")`);
      const name = item.slice(0, eq).toLowerCase();
      if (!known.has(name) && !name.startsWith('x-')) throw invalid(uri, `unknown ${kind} attribute "${name.slice(0, 40)}" (known: ${[...known].join(', ')})`);
      if (name in out) throw invalid(uri, `the attribute "${name}" appears twice`);
      if (name === 'id') {
        // The id is raw bytes, percent-encoded: keep it as hex.
        const raw = item.slice(eq + 1);
        if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw invalid(uri, 'the id has a bad percent-encoding');
        out[name] = Buffer.from(raw.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('hex');
      } else {
        out[name] = pctDecode(uri, item.slice(eq + 1));
      }
    }
    return out;
  };
  const parsed = { path: read(pathPart, ';', PATH_ATTRIBUTES, 'path'), query: read(queryPart, '&', QUERY_ATTRIBUTES, 'query') };
  if ('pin-value' in parsed.query) throw invalid(uri, `never put the PIN in the URI (it ends up in shell history and process lists): use pin-source=file:/path/to/pin or set ${PIN_ENV}`);
  if (parsed.path['object'] === undefined && parsed.path['id'] === undefined) throw invalid(uri, 'name the AES key with object=<label> or id=<id>, e.g. pkcs11:token=modelseal;object=master');
  if (parsed.path['type'] !== undefined && parsed.path['type'] !== 'secret-key') throw invalid(uri, `type=${parsed.path['type']}: the master key is an AES key, type=secret-key`);
  // RFC 7512: slot-id is a decimal number; anything else would match no slot (an "unavailable" HSM).
  const slot = parsed.path['slot-id'];
  if (slot !== undefined && !/^\d{1,20}$/.test(slot)) throw invalid(uri, `slot-id=${slot.slice(0, 40)} is not a slot number (a decimal integer such as slot-id=0)`);
  // A PIN comes from a local file only: another scheme (https:, env:) would be read as a file name.
  const pinSource = parsed.query['pin-source'];
  if (pinSource !== undefined && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(pinSource) && !pinSource.startsWith('file:')) {
    throw invalid(uri, `pin-source=${pinSource.slice(0, 40)}: only a file is read (pin-source=file:/run/secrets/hsm-pin, or a path), or set ${PIN_ENV}`);
  }
  return parsed;
}

// Only the parts of pkcs11js this file uses, so its types stay out of the public .d.ts.
interface Binding {
  PKCS11: new () => Module;
  [constant: string]: unknown;
}
interface Module {
  load(path: string): void;
  C_Initialize(): void;
  C_Finalize(): void;
  C_GetSlotList(present: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): { label: string; serialNumber: string; manufacturerID: string; model: string };
  C_GetSlotInfo(slot: Buffer): { slotDescription: string; manufacturerID: string };
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_CloseSession(session: Buffer): void;
  C_Login(session: Buffer, userType: number, pin: string): void;
  C_FindObjectsInit(session: Buffer, template: { type: number; value?: unknown }[]): void;
  C_FindObjects(session: Buffer, max: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: { type: number }[]): { type: number; value?: unknown }[];
  C_EncryptInit(session: Buffer, mechanism: unknown, key: Buffer): void;
  C_Encrypt(session: Buffer, data: Buffer, out: Buffer): Buffer;
  C_DecryptInit(session: Buffer, mechanism: unknown, key: Buffer): void;
  C_Decrypt(session: Buffer, data: Buffer, out: Buffer): Buffer;
}

async function loadBinding(): Promise<Binding> {
  try {
    const mod = (await import('pkcs11js')) as unknown as { default?: Binding } & Binding;
    return mod.default ?? mod;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new ModelsealError('missing_dependency', 'pkcs11: master keys need the optional package pkcs11js: run `npm install pkcs11js` (it compiles with node-gyp: g++, make and the Node headers)', { cause });
    }
    throw new ModelsealError('missing_dependency', `the package pkcs11js is installed but does not load (${(cause as Error).message}): rebuild it with \`npm rebuild pkcs11js\``, { cause });
  }
}

function ckr(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

function trimmed(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

/** An AES-256 key in a PKCS#11 token; AES-GCM inside the token, 12-byte random IV ‖ ciphertext ‖ tag. */
class Pkcs11MasterKey implements MasterKeyProvider {
  readonly id: string;
  readonly uri: string;
  readonly #p: Binding;
  readonly #module: Module;
  readonly #parsed: Pkcs11Uri;
  readonly #pin: () => string;
  #session: Buffer | undefined;
  #key: Buffer | undefined;
  #failedAt = 0;
  #lastError: ModelsealError | undefined;
  #closed = false;
  // Set when an operation failed: the next connection re-initialises the library first.
  #stale = false;

  readonly #shared: SharedModule;
  #generation = -1;

  constructor(uri: string, binding: Binding, shared: SharedModule, parsed: Pkcs11Uri, pin: () => string) {
    this.uri = redactUri(uri);
    this.#p = binding;
    this.#module = shared.module;
    this.#shared = shared;
    this.#parsed = parsed;
    this.#pin = pin;
    // The id names the key object, not the URI's other attributes, so moving the token to another
    // slot or naming it by serial instead of label keeps the id keys.json records.
    this.id = `p${createHash('sha256').update('modelseal pkcs11 master key id\0').update(parsed.path['object'] ?? '').update('\0').update(parsed.path['id'] ?? '').digest('hex').slice(0, 15)}`;
  }

  #c(name: string): number {
    const v = this.#p[name];
    if (typeof v !== 'number') throw new Error(`internal: pkcs11js has no ${name}`);
    return v;
  }

  #unavailable(message: string, cause?: unknown): ModelsealError {
    return new ModelsealError('master_key_unavailable', `the PKCS#11 master key ${this.uri} is unavailable: ${message}`, cause === undefined ? {} : { cause });
  }

  /** Opens a session, logs in and finds the key; throws master_key_unavailable (or config_invalid for a bad key). */
  #connect(): void {
    const m = this.#module;
    try {
      // After a failure, start the library over so a token that came back is found again.
      if (this.#lastError || this.#stale) this.#shared.reinit();
      this.#stale = false;
      const generation = this.#shared.generation();
      const want = this.#parsed.path;
      const slots = m.C_GetSlotList(true).filter((slot, i) => {
        if (want['slot-id'] !== undefined && String(slot.readUIntLE(0, Math.min(6, slot.length))) !== want['slot-id'] && String(i) !== want['slot-id']) return false;
        let t;
        try {
          t = m.C_GetTokenInfo(slot);
        } catch {
          // A slot whose token went away answers CKR_GENERAL_ERROR: it is not the one.
          return false;
        }
        if (want['token'] !== undefined && trimmed(t.label) !== want['token']) return false;
        if (want['serial'] !== undefined && trimmed(t.serialNumber) !== want['serial']) return false;
        if (want['manufacturer'] !== undefined && trimmed(t.manufacturerID) !== want['manufacturer']) return false;
        if (want['model'] !== undefined && trimmed(t.model) !== want['model']) return false;
        return true;
      });
      if (slots.length === 0) throw this.#unavailable('no token matches the URI (token missing, removed, or not initialised)');
      if (slots.length > 1) throw new ModelsealError('config_invalid', `master key ${this.uri}: ${slots.length} tokens match the URI: add token=<label> or serial=<serial>`);
      const session = m.C_OpenSession(slots[0]!, this.#c('CKF_SERIAL_SESSION'));
      try {
        let pin: string;
        try {
          pin = this.#pin();
        } catch (err) {
          throw err instanceof ModelsealError ? err : this.#unavailable((err as Error).message, err);
        }
        try {
          m.C_Login(session, this.#c('CKU_USER'), pin);
        } catch (err) {
          // Login state belongs to the application, so a second session is already logged in.
          if (ckr(err) === CKR_PIN_INCORRECT) throw this.#unavailable('the token refused the PIN (CKR_PIN_INCORRECT): check the pin-source file or ' + PIN_ENV, err);
          if (ckr(err) === CKR_PIN_LOCKED) throw this.#unavailable('the token PIN is locked (CKR_PIN_LOCKED): the security officer must reset it', err);
          if (ckr(err) !== CKR_USER_ALREADY_LOGGED_IN) throw err;
        }
        const template: { type: number; value?: unknown }[] = [{ type: this.#c('CKA_CLASS'), value: this.#c('CKO_SECRET_KEY') }];
        if (want['object'] !== undefined) template.push({ type: this.#c('CKA_LABEL'), value: want['object'] });
        if (want['id'] !== undefined) template.push({ type: this.#c('CKA_ID'), value: Buffer.from(want['id'], 'hex') });
        m.C_FindObjectsInit(session, template);
        let found: Buffer[];
        try {
          found = m.C_FindObjects(session, 2);
        } finally {
          m.C_FindObjectsFinal(session);
        }
        if (found.length === 0) throw new ModelsealError('master_key_missing', `the token has no secret key matching ${this.uri}: create the AES key in the token (docs/OPERATIONS.md), or fix object=/id=`);
        if (found.length > 1) throw new ModelsealError('config_invalid', `master key ${this.uri}: several secret keys match: add id=<id> or a unique object=<label>`);
        const [keyType, sensitive, extractable] = m.C_GetAttributeValue(session, found[0]!, [{ type: this.#c('CKA_KEY_TYPE') }, { type: this.#c('CKA_SENSITIVE') }, { type: this.#c('CKA_EXTRACTABLE') }]);
        if (ulong(keyType?.value) !== this.#c('CKK_AES')) throw new ModelsealError('config_invalid', `master key ${this.uri} is not an AES key`);
        // A key whose value may leave the token is no HSM master key: refuse it rather than trust it.
        if (!truthy(sensitive?.value) || truthy(extractable?.value)) throw new ModelsealError('config_invalid', `master key ${this.uri} must be sensitive and non-extractable (CKA_SENSITIVE true, CKA_EXTRACTABLE false), so its value never leaves the token`);
        this.#session = session;
        this.#key = found[0]!;
        this.#generation = generation;
      } catch (err) {
        try {
          m.C_CloseSession(session);
        } catch {
          // the session is useless either way
        }
        throw err;
      }
    } catch (err) {
      if (err instanceof ModelsealError) throw err;
      throw this.#unavailable(`${(err as Error).message}`, err);
    }
  }

  /** Drops the session and key handle, so the next call starts again (a token back in its slot). */
  #reset(): void {
    this.#stale = true;
    if (this.#session) {
      try {
        this.#module.C_CloseSession(this.#session);
      } catch {
        // already gone
      }
    }
    this.#session = undefined;
    this.#key = undefined;
  }

  #ready(): { session: Buffer; key: Buffer } {
    if (this.#closed) throw this.#unavailable('the provider is closed');
    // Another provider on this module re-initialised it: this session is gone, open a new one.
    if (this.#session && this.#generation !== this.#shared.generation()) {
      this.#session = undefined;
      this.#key = undefined;
    }
    if (!this.#session || !this.#key) {
      // Fail fast between attempts, so an outage costs each request microseconds, not a token timeout.
      if (this.#lastError && Date.now() - this.#failedAt < RETRY_MS) throw this.#lastError;
      try {
        this.#connect();
        this.#lastError = undefined;
      } catch (err) {
        this.#reset();
        this.#failedAt = Date.now();
        this.#lastError = err as ModelsealError;
        throw err;
      }
    }
    return { session: this.#session!, key: this.#key! };
  }

  #mechanism(iv: Buffer, aad: Uint8Array): unknown {
    return { mechanism: this.#c('CKM_AES_GCM'), parameter: { type: this.#c('CK_PARAMS_AES_GCM'), iv, ivBits: 96, aad: Buffer.from(aad), tagBits: 128 } };
  }

  #encrypt(plain: Uint8Array, aad: Uint8Array): Uint8Array {
    const { session, key } = this.#ready();
    const iv = randomBytes(12);
    try {
      this.#module.C_EncryptInit(session, this.#mechanism(iv, aad), key);
      const ct = this.#module.C_Encrypt(session, Buffer.from(plain), Buffer.alloc(plain.length + 16));
      const out = new Uint8Array(12 + ct.length);
      out.set(iv);
      out.set(ct, 12);
      return out;
    } catch (err) {
      this.#reset();
      throw this.#unavailable(`encryption in the token failed (${(err as Error).message})`, err);
    }
  }

  async wrap(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.#encrypt(plain, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const { session, key } = this.#ready();
    if (wrapped.length < 12 + 16) throw new ModelsealError('master_key_wrong', `a key wrapped by ${this.uri} is too short: keys.json was altered`);
    try {
      this.#module.C_DecryptInit(session, this.#mechanism(Buffer.from(wrapped.subarray(0, 12)), aad), key);
      return new Uint8Array(this.#module.C_Decrypt(session, Buffer.from(wrapped.subarray(12)), Buffer.alloc(wrapped.length)));
    } catch (err) {
      const code = ckr(err);
      if (code !== undefined && MAYBE_WRONG_KEY.has(code)) {
        // The token says only "failed": if it still encrypts, the bytes or the key are wrong, not the token.
        let healthy = true;
        try {
          this.#encrypt(new Uint8Array(16), new Uint8Array(0));
        } catch {
          healthy = false;
        }
        if (healthy) throw new ModelsealError('master_key_wrong', `the PKCS#11 master key ${this.uri} cannot unwrap this key: it is another key, or the wrapped key was altered`, { cause: err });
      }
      this.#reset();
      throw this.#unavailable(`decryption in the token failed (${(err as Error).message})`, err);
    }
  }

  async check(): Promise<void> {
    // A real operation: a session can look open while its key handle is gone (token removed).
    this.#encrypt(new Uint8Array(16), new Uint8Array(0));
  }

  /** Reads the key's CKA_VALUE, which a proper token refuses (CKR_ATTRIBUTE_SENSITIVE); for tests and audits. */
  readKeyValue(): unknown {
    const { session, key } = this.#ready();
    try {
      return this.#module.C_GetAttributeValue(session, key, [{ type: this.#c('CKA_VALUE') }])[0]?.value;
    } catch (err) {
      if (ckr(err) === CKR_ATTRIBUTE_SENSITIVE) throw new ModelsealError('master_key_unavailable', 'the token refuses to reveal the key value (CKR_ATTRIBUTE_SENSITIVE)', { cause: err });
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#reset();
    this.#closed = true;
    this.#shared.release();
  }
}

// C_GetAttributeValue gives CK_ULONG values as raw bytes in the host's order (little-endian here).
function ulong(v: unknown): number | undefined {
  if (Buffer.isBuffer(v)) return v.length === 0 ? undefined : v.readUIntLE(0, Math.min(6, v.length));
  return typeof v === 'number' ? v : undefined;
}

function truthy(v: unknown): boolean {
  if (Buffer.isBuffer(v)) return v.length > 0 && v[0] !== 0;
  return v === true || v === 1;
}

interface SharedModule {
  module: Module;
  /** Bumped at each re-initialisation: sessions opened before it are gone. */
  generation(): number;
  reinit(): void;
  release(): void;
}

// One loaded, initialised module per library path in this process: C_Initialize and C_Finalize are
// process-wide, so two providers on one module share it and the last one to close finalises it.
const modules = new Map<string, { module: Module; refs: number; generation: number }>();

function acquireModule(binding: Binding, modulePath: string): SharedModule {
  let entry = modules.get(modulePath);
  if (!entry) {
    const module = new binding.PKCS11();
    try {
      module.load(modulePath);
    } catch (cause) {
      throw new ModelsealError('config_invalid', `cannot load the PKCS#11 module ${modulePath}: ${(cause as Error).message}; check module-path (or ${MODULE_ENV})`, { cause, file: modulePath });
    }
    try {
      module.C_Initialize();
    } catch (err) {
      if (ckr(err) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw new ModelsealError('master_key_unavailable', `the PKCS#11 module ${modulePath} does not initialise: ${(err as Error).message}`, { cause: err });
    }
    entry = { module, refs: 0, generation: 0 };
    modules.set(modulePath, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    module: held.module,
    generation: () => held.generation,
    reinit: () => {
      // A token that left and came back is seen again only after the library starts over (SoftHSM2 too).
      try {
        held.module.C_Finalize();
      } catch {
        // not initialised
      }
      held.generation++;
      try {
        held.module.C_Initialize();
      } catch (err) {
        if (ckr(err) !== CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
      }
    },
    release: () => {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      modules.delete(modulePath);
      try {
        held.module.C_Finalize();
      } catch {
        // already finalised
      }
    },
  };
}

/** Where the PIN comes from: `pin-source` (a file, read at each login) or $MODELSEAL_PKCS11_PIN. */
function pinReader(uri: string, parsed: Pkcs11Uri, ctx: MasterKeyContext): () => string {
  const source = parsed.query['pin-source'];
  if (source !== undefined) {
    const raw = source.startsWith('file:') ? source.slice(source.startsWith('file://') ? 'file://'.length : 'file:'.length) : source;
    if (raw === '') throw invalid(uri, 'pin-source needs a file path, e.g. pin-source=file:/run/secrets/hsm-pin');
    const path = isAbsolute(raw) ? raw : join(ctx.storeDir, raw);
    return () => {
      let text: string;
      try {
        text = readRegularTextSync(path);
      } catch (cause) {
        throw new ModelsealError('master_key_unavailable', `cannot read the PIN file ${path} (pin-source): ${(cause as Error).message}`, { cause, file: path });
      }
      return text.replace(/\r?\n$/, '');
    };
  }
  const pin = ctx.env[PIN_ENV];
  if (pin === undefined || pin === '') throw invalid(uri, `no PIN: add pin-source=file:/path/to/pin to the URI, or set ${PIN_ENV}`);
  return () => pin;
}

/** Opens a `pkcs11:` master key (the dispatcher in index.ts calls this). */
export async function createMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider & { readKeyValue(): unknown }> {
  const parsed = parsePkcs11Uri(uri);
  const modulePath = parsed.query['module-path'] ?? ctx.env[MODULE_ENV];
  if (modulePath === undefined || modulePath === '') throw invalid(uri, `name the PKCS#11 module: add module-path=/usr/lib/softhsm/libsofthsm2.so (or your HSM's library), or set ${MODULE_ENV}`);
  if (!isAbsolute(modulePath)) throw invalid(uri, `module-path must be an absolute path, got ${JSON.stringify(modulePath)}`);
  const pin = pinReader(uri, parsed, ctx);
  const binding = await loadBinding();
  const shared = acquireModule(binding, modulePath);
  const key = new Pkcs11MasterKey(uri, binding, shared, parsed, pin);
  // Connect now: a wrong PIN or a missing key is better reported before anything is sealed.
  await key.check().catch(async (err: unknown) => {
    await key.close();
    throw err;
  });
  return key;
}
