// What the key server tracks about one request, from its first hook to its audit line.

import type { FastifyRequest } from 'fastify';
import type { AuditEntry } from './audit.js';
import type { WireCode } from './errors.js';
import { clientGroup } from './client-address.js';

/** Per-request state the hooks, the error handler and the release route share. */
export interface RequestState {
  audit: Partial<AuditEntry>;
  reason: WireCode | undefined;
  /** What per-address limits count: the address, or its IPv6 network (client-address.ts). */
  clientGroup: string;
  /** The bearer token verified (signature and claims): its lines are never held back by the audit gate. */
  verified: boolean;
  /** A release was taken from the token's cap: the request is audited even if the client is gone. */
  counted: boolean;
  /** The handler has produced its answer (onSend ran). */
  decided: boolean;
  /** The audit line (or its suppression) is done. */
  audited: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    modelseal: RequestState | undefined;
  }
}

/** The state of a request that has just arrived. */
export function newRequestState(req: FastifyRequest, ipv6PrefixLength: number): RequestState {
  return { audit: { client: req.ip, origin: req.headers.origin }, reason: undefined, clientGroup: clientGroup(req.ip, ipv6PrefixLength), verified: false, counted: false, decided: false, audited: false };
}
