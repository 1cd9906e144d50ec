// A real SoftHSM2 token for the PKCS#11 tests: a private config and token folder in a temp dir,
// a token initialised with softhsm2-util, and an AES-256 key made inside it with the pkcs11js
// binding (sensitive, non-extractable), as an operator would make the master key.

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** Debian's SoftHSM2 module (scripts/setup.sh installs softhsm2). */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A token in a temp folder. */
export interface SoftHsmToken {
  /** The SOFTHSM2_CONF value that points SoftHSM2 at this token folder (set it before the module loads). */
  conf: string;
  /** The token folder; moving it away makes the token vanish (an HSM outage). */
  tokenDir: string;
  /** File holding the user PIN (pin-source). */
  pinFile: string;
  pin: string;
  /** The master key URI: token, key label, module and pin-source. */
  uri: string;
}

/** Initialises a token labelled `label` in `dir` and creates the AES key `keyLabel` in it. */
export function createSoftHsmToken(dir: string, options: { label?: string; keyLabel?: string; extractable?: boolean } = {}): SoftHsmToken {
  const label = options.label ?? 'modelseal';
  const keyLabel = options.keyLabel ?? 'master';
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir, { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = '246810';
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '13579', '--pin', pin], { env, stdio: 'pipe' });
  // The key is made in a child process, so this process's SoftHSM2 state starts clean.
  const script = `
    const p = require('pkcs11js');
    const m = new p.PKCS11(); m.load(${JSON.stringify(SOFTHSM_MODULE)}); m.C_Initialize();
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === ${JSON.stringify(label)});
    const s = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    m.C_Login(s, p.CKU_USER, ${JSON.stringify(pin)});
    m.C_GenerateKey(s, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_AES }, { type: p.CKA_VALUE_LEN, value: 32 },
      { type: p.CKA_TOKEN, value: true }, { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: ${options.extractable ? 'false' : 'true'} }, { type: p.CKA_EXTRACTABLE, value: ${options.extractable ? 'true' : 'false'} },
      { type: p.CKA_ENCRYPT, value: true }, { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_LABEL, value: ${JSON.stringify(keyLabel)} }, { type: p.CKA_ID, value: Buffer.from([1]) }]);
    m.C_Logout(s); m.C_CloseSession(s); m.C_Finalize();`;
  const require = createRequire(import.meta.url);
  execFileSync(process.execPath, ['-e', script], { env: { ...env, NODE_PATH: join(require.resolve('pkcs11js'), '../..') }, stdio: 'pipe' });
  const uri = `pkcs11:token=${label};object=${keyLabel};type=secret-key?module-path=${SOFTHSM_MODULE}&pin-source=file:${pinFile}`;
  return { conf, tokenDir, pinFile, pin, uri };
}

/** Removes the token folder and config. */
export function removeSoftHsmToken(token: SoftHsmToken): void {
  rmSync(token.tokenDir, { recursive: true, force: true });
}
