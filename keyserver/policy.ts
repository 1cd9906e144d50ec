// Release policy: which entry of the config governs a model, and the rules that read it (model
// patterns, origins, offline leases). Pure functions of the config; no I/O.

import type { KeyServerConfig, ModelPolicy } from './config.js';

/** A policy with the name of the config entry it came from ('' is `defaults`). */
export interface NamedPolicy {
  name: string;
  policy: ModelPolicy;
}

/** True when `modelId` matches a `models` claim entry or policy pattern (`*` = any run of characters). */
export function matchesPattern(pattern: string, modelId: string): boolean {
  if (!pattern.includes('*')) return pattern === modelId;
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!modelId.startsWith(first) || modelId.length < first.length + last.length || !modelId.endsWith(last)) return false;
  let at = first.length;
  for (const mid of parts.slice(1, -1)) {
    const i = modelId.indexOf(mid, at);
    if (i < 0 || i + mid.length > modelId.length - last.length) return false;
    at = i + mid.length;
  }
  return true;
}

/** Finds the policy for a model: an exact entry, else the most specific matching pattern, else defaults. */
export function policyFor(config: KeyServerConfig, modelId: string): NamedPolicy {
  // Own entries only: a model id such as "constructor" must not find Object.prototype's member.
  const exact = Object.hasOwn(config.models, modelId) ? config.models[modelId] : undefined;
  if (exact && !modelId.includes('*')) return { name: modelId, policy: { ...config.defaults, ...exact } };
  let best: string | undefined;
  for (const pattern of Object.keys(config.models)) {
    if (!pattern.includes('*') || !matchesPattern(pattern, modelId)) continue;
    if (best === undefined || pattern.replaceAll('*', '').length > best.replaceAll('*', '').length) best = pattern;
  }
  return best === undefined ? { name: '', policy: config.defaults } : { name: best, policy: { ...config.defaults, ...config.models[best] } };
}

/**
 * policyFor with a cache: the config does not change while the app runs, so each model's policy is
 * looked up once. Bounded, as ids come from requests: a full cache starts over.
 */
export function cachedPolicies(config: KeyServerConfig, maxEntries = 4096): (modelId: string) => NamedPolicy {
  const cache = new Map<string, NamedPolicy>();
  return (modelId) => {
    let p = cache.get(modelId);
    if (!p) {
      if (cache.size >= maxEntries) cache.clear();
      p = policyFor(config, modelId);
      cache.set(modelId, p);
    }
    return p;
  };
}

/** True when a browser origin may use at least one model (CORS answers only such origins). */
export function originAllowedAnywhere(config: KeyServerConfig, origin: string): boolean {
  const policies = [config.defaults, ...Object.values(config.models).map((p) => ({ ...config.defaults, ...p }))];
  return policies.some((p) => p.origins === null || p.origins.includes(origin));
}

/** Why the policy refuses a request's Origin header, or undefined when it allows it. */
export function originRefusal(policy: ModelPolicy, origin: string | undefined, modelId: string): string | undefined {
  if (policy.origins === null || (origin !== undefined && policy.origins.includes(origin))) return undefined;
  return origin === undefined ? 'the request has no Origin header' : `origin ${origin.slice(0, 100)} is not allowed for ${modelId}`;
}

/**
 * The offline lease of a release (seconds since the epoch), or undefined: only a client that asks
 * and a policy that grants one get it, and it never outlasts the key version's own expiry.
 */
export function offlineLease(asked: boolean | undefined, policy: ModelPolicy, nowMs: number, keyExpiryMs: number): number | undefined {
  if (asked !== true || policy.offlineLeaseSeconds <= 0) return undefined;
  return Math.floor(Math.min(nowMs + policy.offlineLeaseSeconds * 1000, keyExpiryMs) / 1000);
}
