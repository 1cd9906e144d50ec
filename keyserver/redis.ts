// Shared state on Redis for several replicas or workers: the per-token release cap (one atomic
// INCR + PEXPIREAT in a MULTI: exact under concurrency), the rate limits (rate-limiter-flexible's
// RateLimiterRedis), and keystore change notices (pub/sub) so revocations reach every replica at once.
// Commands fail fast while Redis is unreachable (no offline queue, a command timeout); the client
// reconnects by itself, and callers turn the failure into 503 `unavailable` (fail closed).

import { createClient, ErrorReply, MultiErrorReply } from 'redis';
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Logger } from 'pino';
import { SharedStateUnavailable, type ReleaseCounter } from './counter.js';
import { FlexibleLimiter } from './limiter.js';

type Client = ReturnType<typeof createClient>;

/** Options of RedisState.open and notifyKeystoreChange. */
export interface RedisStateOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /** Prefix of every key and channel, so several deployments can share one Redis. */
  keyPrefix: string;
  /** A command that gets no answer within this many ms fails (so does a connection attempt). */
  commandTimeoutMs: number;
  logger?: Logger;
  /** Called for every Redis error (connection or command), e.g. to count it in a metric. */
  onError?: (kind: 'connection' | 'command') => void;
}

/** The channel keystore writers publish on and key servers subscribe to. */
export function keystoreChannel(keyPrefix: string): string {
  return `${keyPrefix}keystore`;
}

function makeClient(options: RedisStateOptions): Client {
  return createClient({
    url: options.url,
    // Fail fast: a command while disconnected is refused at once, not queued until Redis returns.
    // (node-redis's own command timeout ends once a command is written; RedisState.run bounds the
    // wait for its answer.) A full queue (a hung Redis) refuses at once too.
    disableOfflineQueue: true,
    commandOptions: { timeout: options.commandTimeoutMs },
    commandsQueueMaxLength: 10_000,
    pingInterval: 5000,
    socket: {
      connectTimeout: Math.max(options.commandTimeoutMs, 1000),
      // Reconnect for ever, backing off to one attempt per second.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
    },
  });
}

const CENTURY_MS = 100 * 365 * 86_400_000;

/** How often one kind of refusal (its first word: NOPERM, OOM, EXECABORT, …) is logged at most. */
const REFUSAL_LOG_EVERY_MS = 60_000;

/** An error reply of Redis (an answer that refuses the command), as against a connection failure or a timeout. */
function refusalOf(err: unknown): string | undefined {
  if (err instanceof MultiErrorReply) return [...err.errors()].map((e) => e.message).join('; ') || err.message;
  return err instanceof ErrorReply ? err.message : undefined;
}

/** The release cap on Redis: `INCR` and `PEXPIREAT` (the token's expiry) in one MULTI per release. */
export class RedisReleaseCounter implements ReleaseCounter {
  readonly #state: RedisState;

  constructor(state: RedisState) {
    this.#state = state;
  }

  async take(id: string, cap: number, expiresAtMs: number): Promise<boolean> {
    const client = this.#state.client;
    if (!client.isReady) throw new SharedStateUnavailable('Redis is not connected');
    const key = `${this.#state.keyPrefix}jti:${id}`;
    // Redis refuses an expiry past its range (a token of a far-off exp, possible with maxLifetimeSeconds 0): a century is for ever here.
    const expireAt = Math.ceil(Math.min(expiresAtMs, Date.now() + CENTURY_MS));
    const replies = await this.#state.run(() => client.multi().incr(key).pExpireAt(key, expireAt).exec());
    const count = Number(replies[0]);
    // INCR is atomic: of any number of concurrent requests, exactly `cap` see a count ≤ cap. A
    // refused request still increments the count, which can only refuse more, never release more.
    return count <= cap;
  }
}

/** Rate limits on Redis (rate-limiter-flexible; windows are whole seconds there, rounded up). */
export class RedisRequestLimiter extends FlexibleLimiter {
  readonly #state: RedisState;

  constructor(state: RedisState) {
    super();
    this.#state = state;
  }

  protected create(bucket: string, max: number, windowMs: number): RateLimiterAbstract {
    const limiter = new RateLimiterRedis({
      storeClient: this.#state.client,
      useRedisPackage: true,
      rejectIfRedisNotReady: true,
      keyPrefix: `${this.#state.keyPrefix}rl:${bucket}`,
      points: max,
      duration: Math.max(1, Math.ceil(windowMs / 1000)),
    });
    // rate-limiter-flexible rejects with a RateLimiterRes (not an Error) when the limit is reached:
    // that is an answer, not a failure. Store failures and timeouts become SharedStateUnavailable.
    const consume = limiter.consume.bind(limiter);
    limiter.consume = (key, points, options) => this.#state.run(() => consume(key, points, options), (err) => !(err instanceof Error));
    return limiter;
  }
}

/** One Redis connection (plus a subscriber for keystore notices) shared by the cap and the limits. */
export class RedisState {
  readonly client: Client;
  readonly keyPrefix: string;
  readonly counter: RedisReleaseCounter;
  readonly limiter: RedisRequestLimiter;
  readonly #options: RedisStateOptions;
  #subscriber: Client | undefined;
  #wasReady = false;
  #closed = false;
  readonly #refusalsLogged = new Map<string, number>();

  private constructor(options: RedisStateOptions) {
    this.#options = options;
    this.keyPrefix = options.keyPrefix;
    this.client = makeClient(options);
    this.#watch(this.client, 'shared state');
    this.counter = new RedisReleaseCounter(this);
    this.limiter = new RedisRequestLimiter(this);
  }

  /**
   * Connects to Redis. Resolves once connected or after `commandTimeoutMs`, whichever is first:
   * a server may start while Redis is down (it answers 503 and reports not ready until Redis is back).
   * @example const redis = await RedisState.open({ url: 'redis://127.0.0.1:6379', keyPrefix: 'modelseal:', commandTimeoutMs: 500 });
   */
  static async open(options: RedisStateOptions): Promise<RedisState> {
    const state = new RedisState(options);
    await state.#connect(state.client);
    return state;
  }

  /** True while commands can be sent. */
  get ready(): boolean {
    return this.client.isReady;
  }

  /**
   * Runs Redis commands with a deadline of `commandTimeoutMs`; a failure or a late answer throws
   * SharedStateUnavailable and counts as a Redis error. `isAnswer` marks rejections that are answers.
   */
  async run<T>(op: () => Promise<T>, isAnswer: (err: unknown) => boolean = () => false): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.#options.commandTimeoutMs} ms`)), this.#options.commandTimeoutMs);
    });
    try {
      return await Promise.race([op(), late]);
    } catch (err) {
      if (isAnswer(err)) throw err;
      this.#options.onError?.('command');
      const refusal = refusalOf(err);
      if (refusal === undefined) throw new SharedStateUnavailable('Redis cannot be reached', { cause: err });
      this.#logRefusal(refusal);
      throw new SharedStateUnavailable(`Redis refused a command: ${refusal.slice(0, 200)}`, { cause: err, refused: true });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A Redis that answers but refuses (an ACL without a command, out of memory under noeviction, a
   * key of the wrong type) fails every capped release until an operator acts: say so in the log,
   * once a minute per kind, not once per request.
   */
  #logRefusal(refusal: string): void {
    const kind = refusal.split(/\s/, 1)[0] ?? '';
    const last = this.#refusalsLogged.get(kind);
    if (last !== undefined && Date.now() - last < REFUSAL_LOG_EVERY_MS) return;
    if (this.#refusalsLogged.size > 64) this.#refusalsLogged.clear();
    this.#refusalsLogged.set(kind, Date.now());
    this.#options.logger?.error({ reply: refusal.slice(0, 500) }, 'Redis refused a command: releases that need the shared state fail with 503 until Redis accepts it (check the Redis user\'s ACL, maxmemory and the keys under redisKeyPrefix)');
  }

  /**
   * Why Redis is not usable now, or undefined when it is: not connected, no answer in time, or a
   * refusal of the release cap's own commands (INCR and PEXPIREAT in a MULTI, on a probe key), which
   * PING alone does not show (an ACL without them, out of memory).
   */
  async check(): Promise<string | undefined> {
    if (!this.client.isReady) return 'the shared state (Redis) is not connected';
    const probe = `${this.keyPrefix}readyz`;
    try {
      await this.run(() => this.client.ping());
      await this.run(() => this.client.multi().incr(probe).pExpireAt(probe, Date.now() + 60_000).exec());
      return undefined;
    } catch (err) {
      if (err instanceof SharedStateUnavailable && err.refused) return `the shared state (Redis) refuses the release cap's commands: ${err.message}`;
      return `the shared state (Redis) did not answer within ${this.#options.commandTimeoutMs} ms`;
    }
  }

  /**
   * Calls `listener` on every keystore change notice, and after every reconnection of the
   * subscriber (notices sent while it was away are lost, so the caller should re-read then).
   */
  async onKeystoreChange(listener: () => void): Promise<void> {
    if (this.#subscriber) throw new Error('already subscribed');
    const sub = this.client.duplicate();
    this.#subscriber = sub;
    this.#watch(sub, 'keystore notices');
    let first = true;
    sub.on('ready', () => {
      if (!first) listener();
      first = false;
    });
    // node-redis subscribes again by itself after a reconnection.
    await this.#connect(sub);
    await sub.subscribe(keystoreChannel(this.keyPrefix), () => listener()).catch((err: Error) => {
      this.#options.logger?.warn({ msg: err.message }, 'cannot subscribe to keystore notices yet; polling until Redis is back');
    });
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [this.#subscriber, this.client]) {
      if (!c?.isOpen) continue;
      // A client still reconnecting has nothing to finish: destroy it rather than wait.
      if (c.isReady) await c.close().catch(() => c.destroy());
      else c.destroy();
    }
  }

  async #connect(client: Client): Promise<void> {
    const connected = client.connect().then(
      () => undefined,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([connected, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#options.commandTimeoutMs)))]);
    clearTimeout(timer);
    if (!client.isReady) this.#options.logger?.warn({ redis: redactUrl(this.#options.url) }, 'Redis is not reachable yet: releases answer 503 until it is');
  }

  #watch(client: Client, role: string): void {
    const log = this.#options.logger;
    // Without an 'error' listener a lost connection would crash the process.
    client.on('error', (err: Error) => {
      this.#options.onError?.('connection');
      if (client === this.client && this.#wasReady) {
        this.#wasReady = false;
        log?.warn({ msg: err.message }, `Redis connection lost (${role}): answering 503 until it is back`);
      }
    });
    client.on('ready', () => {
      if (client === this.client) {
        this.#wasReady = true;
        log?.info({ redis: redactUrl(this.#options.url) }, 'Redis connected');
      }
    });
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}

/**
 * Tells every key server subscribed on this Redis that the keystore changed (the CLI calls it after
 * each write of keys.json). Best effort: resolves false when Redis cannot be reached within
 * `commandTimeoutMs` (servers then see the change at their next poll).
 * @example await notifyKeystoreChange({ url: process.env.MODELSEAL_REDIS_URL!, keyPrefix: 'modelseal:', commandTimeoutMs: 2000 });
 */
export async function notifyKeystoreChange(options: RedisStateOptions): Promise<boolean> {
  const client = createClient({ url: options.url, disableOfflineQueue: true, commandOptions: { timeout: options.commandTimeoutMs }, socket: { connectTimeout: options.commandTimeoutMs, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.multi().incr(`${options.keyPrefix}keystore:version`).publish(keystoreChannel(options.keyPrefix), String(Date.now())).exec();
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => client.destroy());
  }
}
