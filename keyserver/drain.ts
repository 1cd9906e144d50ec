// After a 413 the client is usually still sending its body (curl and most HTTP libraries write the
// whole body before they read). If the server closes then, the kernel answers the bytes still
// arriving with a reset, and the client gets EPIPE/ECONNRESET instead of the 413 it was sent. So the
// server reads and discards the rest of the body, up to a bound and a deadline, and closes after.

import { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** Options of drainAndClose. */
export interface DrainOptions {
  /** Bytes of body read and discarded at most; beyond them (or a larger Content-Length) the connection closes at once. */
  maxBytes: number;
  /** The connection closes after this many ms even if the body is still arriving. */
  timeoutMs: number;
}

/**
 * Arranges for the connection of an oversized request to close only once its body has been read and
 * discarded (the response must carry `Connection: close`). Does nothing for sockets that are not
 * real TCP sockets (app.inject).
 */
export function drainAndClose(req: IncomingMessage, options: DrainOptions): void {
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!(socket instanceof Socket) || typeof socket.destroySoon !== 'function' || req.complete) return;
  const declared = Number(req.headers['content-length']);
  if (options.maxBytes === 0 || declared > options.maxBytes) return;
  const destroySoon = socket.destroySoon;
  let responded = false;
  let drained = false;
  let seen = 0;
  const finish = () => {
    if (responded && drained) destroySoon.call(socket);
  };
  // Node calls destroySoon() once a `Connection: close` response is written; it would destroy the
  // socket while the body still arrives. End our side instead (the client reads the answer and EOF)
  // and destroy once the body is in.
  socket.destroySoon = () => {
    responded = true;
    if (socket.writable) socket.end();
    finish();
  };
  const timer = setTimeout(() => socket.destroy(), options.timeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > options.maxBytes) socket.destroy();
  });
  req.once('end', () => {
    drained = true;
    finish();
  });
  req.resume();
}
