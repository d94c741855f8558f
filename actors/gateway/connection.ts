// What WalletConnector and ProofWorkerConnector share: a connection to the gateway through Redis
// (a channel of its own for frames from the gateway, the hello stream for connection frames), the
// handshake rounds, heartbeats, a bounded request queue with cancellation, and reconnection with
// exponential backoff and jitter. A new connection always gets a new id and a new walletNonce.
//
// With a credential (auth on), what crosses Redis is authenticated (wallet-auth.ts): hellos carry the
// JWT and a MAC, never the credential; frames from the gateway that are not sealed under the
// connection's frame key, stale or replayed are refused with one log line each; proofs and answers
// are sealed for the gateway.
import { EventEmitter } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError, isHwayError, type ErrorCode } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { backoff, connect, type RedisSource } from '../../storage/redis.js';
import { listenOnConn, unlistenConn } from './wallet-channel.js';
import { parseJson, parseToWallet, type ConnFrame, type JsonValue, type ToWalletFrame, type WalletKind } from './frames.js';
import { WalletFrameAuth } from './wallet-auth.js';
import { GwKeys } from './keys.js';
import { runScript } from '../../storage/scripts.js';

export interface ConnectorOptions {
  redis: RedisSource;
  /**
   * Credential (`<jwt>.<request key>`) of the wallet's account, permission "sign"; not needed when the
   * gateway runs without auth. Only its JWT and MACs made with its key are sent.
   */
  token?: string;
  prefix?: string;
  logger?: Logger;
  /** How long one handshake round may take. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Reconnect backoff: base and cap (ms). Default 100 / 10000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Requests worked on at once. Default 16. */
  maxConcurrent?: number;
  /** Requests waiting beyond those; more are answered E_WALLET_BUSY. Default 256. */
  maxQueue?: number;
}

export interface Welcome {
  connId: string;
  account: string;
  accepted: string[];
  refused: Array<{ target: string; code: ErrorCode; message: string }>;
}

export type ConnectorState = 'idle' | 'connecting' | 'connected' | 'closed';

type RequestFrame = Extract<ToWalletFrame, { t: 'sign' | 'proof' }>;

interface Job {
  frame: RequestFrame;
  ctl: AbortController;
}

/** Errors after which reconnecting would fail the same way. */
const PERMANENT: ReadonlySet<string> = new Set(['E_UNAUTHORIZED', 'E_FORBIDDEN', 'E_BAD_INPUT']);

export abstract class GatewayConnection extends EventEmitter {
  protected readonly keys: GwKeys;
  protected readonly log: Logger;
  protected readonly cmd: Redis;
  protected readonly sub: Redis;
  protected targets: string[];
  private state: ConnectorState = 'idle';
  private connId = '';
  private round = 0;
  private heartbeatMs = 1000;
  private hbTimer: NodeJS.Timeout | undefined;
  private hbPaused = false;
  private readonly waiters = new Map<number, (f: ToWalletFrame) => void>();
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private active = 0;
  private reconnecting: Promise<void> | undefined;
  private readonly handshakeTimeoutMs: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly maxConcurrent: number;
  private readonly maxQueue: number;
  private subFirstReady = true;
  /** Serialises handshake rounds on one connection. */
  private roundLock: Promise<unknown> = Promise.resolve();
  /** Set (at connect) when the wallet holds a credential. */
  private frameAuth: WalletFrameAuth | undefined;

  protected constructor(
    protected readonly kind: WalletKind,
    targets: string[],
    protected readonly opts: ConnectorOptions,
  ) {
    super();
    this.targets = [...targets];
    this.keys = new GwKeys(opts.prefix);
    this.log = (opts.logger ?? makeLogger('connector')).child({ component: `${kind}-connector` });
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
    this.minMs = opts.reconnectMinMs ?? 100;
    this.maxMs = opts.reconnectMaxMs ?? 10_000;
    this.maxConcurrent = opts.maxConcurrent ?? 16;
    this.maxQueue = opts.maxQueue ?? 256;
    this.cmd = connect(opts.redis, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000, retryStrategy: backoff, lazyConnect: true });
    // Frames from the gateway come on this connection's shard channel (wallet-channel.ts).
    this.sub = connect(opts.redis, { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: backoff, lazyConnect: true }, { sharded: true });
    this.cmd.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    this.sub.on('error', (e: Error) => this.log.debug('redis error (subscriber)', { error: e.message }));
    this.sub.on('smessage', (ch: string, msg: string) => this.onFrame(ch, msg));
    this.sub.on('ready', () => {
      if (this.subFirstReady) {
        this.subFirstReady = false;
        return;
      }
      // The subscription dropped: the gateway saw our channel empty and evicted us. Start over.
      if (this.state === 'connected') this.lost('redis connection lost');
    });
  }

  get id(): string {
    return this.connId;
  }

  get status(): ConnectorState {
    return this.state;
  }

  /** Connects, retrying transient failures with backoff; rejects on a permanent refusal. */
  async connect(): Promise<Welcome> {
    if (this.state === 'closed') throw new HwayError('E_CLOSED', 'connector is closed');
    this.frameAuth ??= WalletFrameAuth.of(this.opts.token); // E_UNAUTHORIZED for a malformed credential
    await Promise.all([this.cmd.status === 'wait' ? this.cmd.connect() : undefined, this.sub.status === 'wait' ? this.sub.connect() : undefined]);
    return this.connectLoop();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.stopHeartbeats();
    for (const j of this.jobs.values()) j.ctl.abort();
    if (wasConnected) await this.send({ t: 'bye', conn: this.connId }).catch(() => undefined);
    await Promise.all([this.cmd, this.sub].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
    this.emit('closed');
  }

  /** Test hook: stop (or resume) heartbeats while staying subscribed, as a hung process would. */
  pauseHeartbeats(paused = true): void {
    this.hbPaused = paused;
  }

  // ---- for subclasses ----

  /** Answer one request; throw an HwayError to refuse it. */
  protected abstract handle(frame: RequestFrame, signal: AbortSignal): Promise<{ signature?: string; recovery?: number; value?: JsonValue }>;

  /** The proof frame for a challenge of `account` (wallets); proof workers have nothing to prove. */
  protected abstract prove(targets: string[], gatewayNonce: Uint8Array, walletNonce: Uint8Array, round: number, account: string): Promise<ConnFrame | undefined>;

  /** One extra handshake round on the live connection (add targets). */
  protected async addRound(targets: string[]): Promise<Welcome> {
    if (this.state !== 'connected') throw new HwayError('E_CLOSED', 'not connected');
    const run = async (): Promise<Welcome> => {
      const round = ++this.round;
      const nonce = randomBytes(32);
      const f = { t: 'add', conn: this.connId, kind: this.kind, nonce: nonce.toString('hex'), targets, round } as const;
      return this.handshakeRound({ ...f, ...this.frameAuth?.hello(f) }, round, targets, nonce);
    };
    const p = this.roundLock.then(run, run);
    this.roundLock = p.catch(() => undefined);
    const w = await p;
    for (const t of w.accepted) if (!this.targets.includes(t)) this.targets.push(t);
    return w;
  }

  protected async removeTargets(targets: string[]): Promise<void> {
    this.targets = this.targets.filter((t) => !targets.includes(t));
    if (this.state === 'connected') await this.send({ t: 'remove', conn: this.connId, targets });
  }

  // ---- internals ----

  private async connectLoop(): Promise<Welcome> {
    for (let attempt = 0; ; attempt++) {
      if (this.state === 'closed') throw new HwayError('E_CLOSED', 'connector is closed');
      this.state = 'connecting';
      try {
        const w = await this.handshake();
        this.state = 'connected';
        this.startHeartbeats();
        this.emit('connected', w);
        this.log.info('connected to gateway', { conn: w.connId, account: w.account, accepted: w.accepted.length, refused: w.refused.length });
        return w;
      } catch (e) {
        const code = isHwayError(e) ? e.code : 'E_INTERNAL';
        const closed = (this.state as ConnectorState) === 'closed';
        if (PERMANENT.has(code) || closed) {
          if (!closed) this.state = 'idle';
          throw e;
        }
        // Exponential backoff with full jitter, so that many wallets do not come back in lockstep.
        const cap = Math.min(this.maxMs, this.minMs * 2 ** Math.min(attempt, 16));
        const wait = Math.round(cap / 2 + Math.random() * (cap / 2));
        this.log.warn('gateway handshake failed, retrying', { code, attempt: attempt + 1, waitMs: wait });
        this.emit('retry', { code, waitMs: wait });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async handshake(): Promise<Welcome> {
    const old = this.connId;
    this.connId = randomUUID();
    this.round = 0;
    if (old) await unlistenConn(this.sub, this.keys.toConn(old)).catch(() => undefined);
    // Subscribe before saying hello: the challenge is published, not stored.
    await listenOnConn(this.sub, [this.keys.toConn(this.connId)], this.handshakeTimeoutMs);
    const nonce = randomBytes(32);
    this.frameAuth?.begin(this.connId, nonce);
    const f = { t: 'hello', conn: this.connId, kind: this.kind, nonce: nonce.toString('hex'), targets: this.targets } as const;
    return this.handshakeRound({ ...f, ...this.frameAuth?.hello({ ...f, round: 0 }) }, 0, this.targets, nonce);
  }

  private async handshakeRound(first: ConnFrame, round: number, targets: string[], walletNonce: Uint8Array): Promise<Welcome> {
    const next = this.expect(round);
    await this.send(first);
    let f = await next;
    if (f.t === 'challenge') {
      const proof = await this.prove(targets, Buffer.from(f.gatewayNonce, 'hex'), walletNonce, round, f.account);
      const welcome = this.expect(round);
      if (proof) await this.send(proof);
      f = await welcome;
    }
    if (f.t === 'error') throw new HwayError(f.code, f.message, { permanent: PERMANENT.has(f.code) });
    if (f.t !== 'welcome') throw new HwayError('E_INTERNAL', `unexpected ${f.t} frame during handshake`);
    this.heartbeatMs = f.heartbeatMs;
    return { connId: this.connId, account: f.account, accepted: f.accepted, refused: f.refused };
  }

  private expect(round: number): Promise<Extract<ToWalletFrame, { t: 'challenge' | 'welcome' | 'error' }>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(round);
        reject(new HwayError('E_TIMEOUT', `gateway did not answer the handshake within ${this.handshakeTimeoutMs} ms`));
      }, this.handshakeTimeoutMs);
      this.waiters.set(round, (f) => {
        clearTimeout(t);
        this.waiters.delete(round);
        resolve(f as Extract<ToWalletFrame, { t: 'challenge' | 'welcome' | 'error' }>);
      });
    });
  }

  protected async send(f: ConnFrame): Promise<void> {
    // A proof is sealed: the node checks it came from the holder of this connection's frame key.
    const json = JSON.stringify(f);
    await this.cmd.xadd(this.keys.hello(), 'MAXLEN', '~', 10_000, '*', 'f', f.t === 'prove' && this.frameAuth ? this.frameAuth.seal(json) : json);
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    this.hbTimer = setInterval(() => void this.beat(), this.heartbeatMs);
  }

  private stopHeartbeats(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
  }

  private async beat(): Promise<void> {
    if (this.hbPaused || this.state !== 'connected') return;
    try {
      const alive = await runScript(this.cmd, 'gw_heartbeat', [this.keys.conn(this.connId)], []);
      if (alive !== 1) this.lost('evicted by the gateway');
    } catch (e) {
      this.log.debug('heartbeat failed', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The connection is gone: fail nothing silently, start a new one in the background. */
  private lost(reason: string): void {
    if (this.state !== 'connected' || this.hbPaused) return;
    this.state = 'connecting';
    this.stopHeartbeats();
    for (const j of this.jobs.values()) j.ctl.abort();
    this.log.warn('gateway connection lost, reconnecting', { conn: this.connId, reason });
    this.emit('disconnected', reason);
    this.reconnecting ??= this.connectLoop()
      .then(() => undefined)
      .catch((e: unknown) => {
        this.log.error('reconnect refused', { code: isHwayError(e) ? e.code : 'E_INTERNAL' });
        this.emit('refused', e);
      })
      .finally(() => {
        this.reconnecting = undefined;
      });
  }

  private onFrame(channel: string, msg: string): void {
    if (channel !== this.keys.toConn(this.connId)) return;
    let f: ToWalletFrame;
    if (this.frameAuth) {
      const o = this.frameAuth.open(msg, (round) => this.waiters.has(round));
      if ('refused' in o) {
        // One line per refused frame, naming why; never the frame (it is whatever someone wrote).
        this.log.warn('refused a frame from the gateway', { conn: this.connId, reason: o.refused });
        this.emit('frame-refused', o.refused);
        return;
      }
      f = o.frame;
    } else {
      try {
        f = parseToWallet(parseJson(msg));
      } catch (e) {
        this.log.warn('malformed frame from gateway', { error: e instanceof Error ? e.message : String(e) });
        return;
      }
    }
    switch (f.t) {
      case 'challenge':
      case 'welcome':
        this.waiters.get(f.round)?.(f);
        return;
      case 'error':
        if (f.round !== undefined && this.waiters.has(f.round)) this.waiters.get(f.round)!(f);
        else this.log.warn('gateway reported an error', { code: f.code, message: f.message });
        this.emit('gateway-error', f);
        return;
      case 'cancel':
        this.jobs.get(f.id)?.ctl.abort();
        return;
      case 'evicted':
        this.lost(`evicted: ${f.reason}`);
        return;
      case 'sign':
      case 'proof':
        this.enqueue(f);
        return;
    }
  }

  private enqueue(frame: RequestFrame): void {
    if (this.jobs.has(frame.id)) return;
    const job: Job = { frame, ctl: new AbortController() };
    if (this.active < this.maxConcurrent) {
      this.run(job);
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      void this.reply(frame, { ok: false, code: 'E_WALLET_BUSY', message: 'wallet queue is full' });
      return;
    }
    this.jobs.set(frame.id, job);
    this.queue.push(job);
  }

  private run(job: Job): void {
    const { frame, ctl } = job;
    this.jobs.set(frame.id, job);
    this.active++;
    const left = frame.deadline - Date.now();
    const timer = setTimeout(() => ctl.abort(), Math.max(0, left));
    ctl.signal.addEventListener('abort', () => this.emit('cancelled', frame.id), { once: true });
    this.emit('request', frame);
    void (async () => {
      try {
        if (left <= 0) throw new HwayError('E_TIMEOUT', 'deadline passed before the request started');
        const r = await this.handle(frame, ctl.signal);
        if (!ctl.signal.aborted) await this.reply(frame, { ok: true, ...r });
      } catch (e) {
        if (!ctl.signal.aborted) {
          const code: ErrorCode = isHwayError(e) ? e.code : 'E_INTERNAL';
          await this.reply(frame, { ok: false, code, message: e instanceof Error ? e.message : String(e) });
        }
      } finally {
        clearTimeout(timer);
        this.jobs.delete(frame.id);
        this.active--;
        const next = this.queue.shift();
        if (next) {
          if (next.ctl.signal.aborted) this.jobs.delete(next.frame.id);
          else this.run(next);
        }
      }
    })();
  }

  private async reply(frame: RequestFrame, body: { ok: true; signature?: string; recovery?: number; value?: JsonValue } | { ok: false; code: ErrorCode; message: string }): Promise<void> {
    try {
      const json = JSON.stringify({ t: 'res', id: frame.id, conn: this.connId, ...body });
      await this.cmd.publish(frame.reply, this.frameAuth ? this.frameAuth.seal(json) : json);
    } catch (e) {
      this.log.warn('could not send an answer', { error: e instanceof Error ? e.message : String(e) });
    }
  }
}
