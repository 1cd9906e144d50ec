// Where the loader runs: the one check the Node-only branches (file: URLs, node:crypto, no
// offline stores) share.

/** True in Node (and runtimes that present themselves as Node). */
export function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string';
}
