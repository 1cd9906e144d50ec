// Creating a keystore safely when several processes may do it at once, or crash half-way:
// the folder is made without Node's recursive mkdir (which can spin forever), and the secrets
// are created under the store lock, each exclusively (a master key is never replaced), the token
// secret before the master key, so a crash in between leaves a store that a retry completes.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { toBase64url } from '../format/bytes.js';
import { ModelsealError } from '../format/errors.js';
import { createFileExclusive, writeFileAtomic } from './atomic.js';
import { makeDirsSync } from './make-dir.js';
import { lockStore } from './lock.js';

/** Makes the keystore folder (0700) and its missing parents; returns true when it made the folder. */
export function createStoreFolder(root: string): boolean {
  try {
    return makeDirsSync(root, 0o700) !== undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is a file, not a folder' : `the file system refused (${code ?? String(err)})`;
    throw new ModelsealError('io_error', `cannot create keystore folder ${root}: ${why}; choose another --store or MODELSEAL_HOME`, { cause: err, file: root });
  }
}

/**
 * Creates `token.secret` (kept if present) and then `master.key` in `root` under the store lock.
 * Returns false when master.key already existed (another process made it first): read that one.
 */
export async function createStoreSecrets(root: string, masterKeyText: string, tokenSecretText: string): Promise<boolean> {
  const release = await lockStore(root);
  try {
    await createFileExclusive(join(root, 'token.secret'), tokenSecretText, 0o600);
    return await createFileExclusive(join(root, 'master.key'), masterKeyText, 0o600);
  } finally {
    await release();
  }
}

/** Creates `token.secret` under the store lock when absent (stores on an external master key have no master.key). */
export async function createTokenSecret(root: string): Promise<boolean> {
  const release = await lockStore(root);
  try {
    return await createFileExclusive(join(root, 'token.secret'), `${toBase64url(randomBytes(32))}\n`, 0o600);
  } finally {
    await release();
  }
}

/**
 * Writes a new random `token.secret` (atomically, under the store lock): the repair for a store
 * whose token secret was lost. Development tokens signed with the old secret stop verifying.
 */
export async function replaceTokenSecret(root: string): Promise<void> {
  const release = await lockStore(root);
  try {
    await writeFileAtomic(join(root, 'token.secret'), `${toBase64url(randomBytes(32))}\n`, 0o600);
  } finally {
    await release();
  }
}
