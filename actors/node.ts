// A Highway node: the ingress (partition leases, streams, priorities), the actor system with its vault
// supervisor, the enclave pool, and the IPFS store (opened on first use). `createNode` assembles
// them; `start`/`stop` bring them up and down in order, so that a stop lets in-flight tasks finish
// before vault actors and enclave instances go away.
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { FilNetwork } from '../enclaves/addresses.js';
import { Enclave } from '../enclaves/enclave.js';
import type { PluginName, PluginSource } from '../enclaves/wasm.js';
import { parseMasterKeys, wipeMasterKeys, type MasterKeyRing } from '../enclaves/master-keys.js';
import { HwayError } from '../errors.js';
import { logger as makeLogger, type Logger } from '../log.js';
import { applyOnce, type RedisEffect } from '../storage/effects.js';
import { loadTokenSecret } from '../storage/token-secret-file.js';
import { openIpfs, preloadIpfs, type IpfsStore } from '../storage/ipfs.js';
import { loadMasterKeys } from '../storage/master-key-file.js';
import { VaultStore } from '../storage/vault-store.js';
import { openAccess, tokenAuthenticator, tokenAuthorizer } from './auth.js';
import { HwayClient } from './client.js';
import type { HttpOptions } from './http/options.js';
import type { HttpEndpoint } from './http/server.js';
import type { NodePhase, NodeView } from './http/view.js';
import { startGateway, type Gateway, type GatewayOptions, type GatewayStats } from './gateway/gateway.js';
import { RateLimiter, DEFAULT_LIMITS } from './gateway/ratelimit.js';
import { TokenService } from './gateway/tokens.js';
import { createIngress, type Handler, type Ingress, type IngressOptions, type Json, type Task, type Weights } from './ingress/index.js';
import { Keys } from './ingress/keys.js';
import { closeConnection, nodeConnection, type RedisSource } from '../storage/redis.js';
import { preflight, redisSourceFrom } from '../storage/redis-preflight.js';
import { startSystem, stopActor, type SystemRef } from './system.js';
import { VAULT_TASKS } from './vault/payloads.js';
import { vaultSigners } from './vault/signers.js';
import { AuditLog } from './audit/audit-log.js';
import { startStatsPublisher, type StatsPublisher } from './inspect/stats-publisher.js';
import { TaskCounts } from './inspect/stats-record.js';
import type { AuditFields } from './audit/entry.js';
import { AuditStore } from '../storage/audit-store.js';
import { vaultHandlers, type Authorize } from './vault/tasks.js';
import { DEFAULT_SUPERVISOR, VaultSupervisor, type SupervisorStats } from './vault/vault-supervisor.js';

export interface NodeOptions {
  /**
   * A single Redis (URL or options) or a Redis Cluster (`{ cluster: [{ host, port }, …] }`). Default:
   * HWAY_REDIS_CLUSTER (seeds "host:port,…") or HWAY_REDIS (a URL), else redis://127.0.0.1:6379;
   * both variables set is E_BAD_INPUT.
   */
  redis?: RedisSource;
  prefix?: string;
  nodeId?: string;
  /** Holds the master key file and the IPFS blockstore (default HWAY_DATA_DIR or ./.hway). */
  dataDir?: string;
  /**
   * Master keys: a ring, or `ID:HEX[,…]` text. Default: HWAY_MASTER_KEY, else <dataDir>/master.key.
   * HWAY_MASTER_KEY is deleted from the environment (`env`, process.env by default) once the node
   * has read it, so that child processes and environment dumps do not carry it; a second node in the
   * same process needs `masterKeys` or a key file.
   */
  masterKeys?: MasterKeyRing | string;
  masterKeyFile?: string;
  /** Create the master key file when there is none (what `hway start` does). Default false. */
  createMasterKey?: boolean;
  partitions?: number;
  /** Tasks in flight on this node (default 10). */
  concurrency?: number;
  weights?: Weights;
  strict?: boolean;
  leaseMs?: number;
  shutdownMs?: number;
  /** Dead letters kept per partition, and for how long. Default 10,000 and 90 days (as Asynq). */
  deadLetters?: IngressOptions['deadLetters'];
  /** Idle time before a vault actor is passivated (default 5 min). */
  passivateMs?: number;
  /** Operations waiting per vault before E_BUSY (default 1000). */
  mailboxLimit?: number;
  /** Deadline of every enclave call (default 20 s). */
  enclaveTimeoutMs?: number;
  enclaveWorkers?: number;
  /** Which enclave build: the committed production plugin (default), or the test build (`vault-test.wasm`, tests only). */
  enclavePlugin?: PluginName | PluginSource;
  ipfs?: { listen?: string[]; peers?: string[]; timeoutMs?: number };
  filNetwork?: FilNetwork;
  /**
   * HS256 secret of account tokens. Auth is on by default: every vault task and gateway request needs
   * a token, acts for its account only, and is rate limited. The secret is this option, else env
   * HWAY_TOKEN_SECRET, else the file `tokenSecretFile` (default <dataDir>/token.secret); with none,
   * start() refuses (E_AUTH_REQUIRED) unless `insecure` or `authorize` says how to run without it.
   */
  tokenSecret?: string;
  tokenSecretFile?: string;
  /** Create the token secret file (mode 0600) when there is none (what `hway start` does). Default false. */
  createTokenSecret?: boolean;
  /**
   * Run without auth: every producer reaches every vault of the default account. Only for a Redis
   * that nobody else can reach (tests, a demo on a laptop). Default false.
   */
  insecure?: boolean;
  /** The signer gateway on this node (default on); `false` turns it off. */
  gateway?: false | Omit<GatewayOptions, 'redis' | 'nodeId' | 'prefix' | 'system' | 'tokens' | 'tokenSecret' | 'vaultSigners'>;
  /** Replaces the token check of vault tasks (tests, embedding services with their own auth). */
  authorize?: Authorize;
  /**
   * An HTTP endpoint with /metrics (Prometheus), /healthz and /readyz (actors/http/). Off by default;
   * `host` defaults to 127.0.0.1. No auth: another host exposes them to whoever reaches it.
   */
  http?: HttpOptions;
  /**
   * The audit log (with auth on): one tamper-evident entry per vault operation and gateway sign, in a
   * Redis stream per account, written before the operation's result is released. `retentionDays`
   * (default 365) trims older entries; `false` turns it off. Without auth there is no audit log.
   */
  audit?: false | { retentionDays?: number };
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** What a registered task's handler receives besides its payload. */
export interface TaskContext<P> extends Task<P> {
  /**
   * The partition's hash tag (`{p}`). Keys that contain it live in the task's Redis Cluster slot, as
   * the keys of an `applyOnce` effect must.
   */
  readonly slotTag: string;
  /**
   * Effect-once for a Redis effect: runs `effect.commands` and stores `outcome` as this task's
   * outcome in one atomic step, unless this task id already did (it ran before on a node that died
   * before its outcome was stored); either way it resolves to the outcome to answer. E_STALE_EPOCH
   * (nothing written) when this node no longer holds the partition.
   */
  applyOnce(effect: RedisEffect, outcome: Json): Promise<Json>;
}

/** A task type added by an embedding service: its payload is validated before `handle` sees it. */
export interface TaskDefinition<P> {
  /** Returns the typed payload or throws; a throw becomes a permanent E_BAD_PAYLOAD. */
  validate: (payload: unknown) => P;
  /**
   * Runs the task; may run again for the same task id if its node dies while it runs. Effects that
   * must happen once go through `task.applyOnce` (or are keyed by `task.id` some other way).
   */
  handle: (payload: P, task: TaskContext<P>) => Promise<Json> | Json;
}

export interface NodeStats {
  nodeId: string;
  partitions: number[];
  vaults: SupervisorStats;
  ingress: ReturnType<Ingress['stats']>;
  enclave: ReturnType<Enclave['stats']>;
  gateway: GatewayStats | null;
  /** Tokens are required (the default), or the node runs without auth (`insecure`, `authorize`). */
  auth: boolean;
  /** The HTTP endpoint's bound address, when it is on. */
  http: { url: string } | null;
}

export interface HwayNode {
  readonly nodeId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  registerTask<P>(type: string, def: TaskDefinition<P>): void;
  stats(): Promise<NodeStats>;
  /** The IPFS store (opened on first call): its multiaddrs let another node dial this one. */
  ipfs(): Promise<IpfsStore>;
}

/** A node with its parts exposed, for the CLI and tests; the package exports only `HwayNode`. */
export interface NodeInternals extends HwayNode {
  readonly enclave: Enclave | undefined;
  readonly supervisor: VaultSupervisor | undefined;
  readonly store: VaultStore;
}

export function createNode(options: NodeOptions = {}): NodeInternals {
  /** Stamps an entry with the time and this node before it is appended. */
  const auditTo =
    (log: AuditLog) =>
    (f: Omit<AuditFields, 'ts' | 'node'>): Promise<void> =>
      log.append({ ...f, ts: Date.now(), node: nodeId });
  const env = options.env ?? process.env;
  const nodeId = options.nodeId ?? env.HWAY_NODE_ID ?? `node-${randomUUID().slice(0, 8)}`;
  const log = (options.logger ?? makeLogger('node')).child({ node: nodeId });
  const redisSrc = redisSourceFrom(options.redis, env);
  const dataDir = resolve(options.dataDir ?? env.HWAY_DATA_DIR ?? '.hway');
  const partitions = options.partitions ?? 64;
  const prefix = options.prefix ?? 'hway';
  if (options.insecure === true && options.tokenSecret !== undefined) throw new HwayError('E_BAD_INPUT', 'insecure and tokenSecret: choose one', { permanent: true });
  const redis = nodeConnection(redisSrc, `hway-node-${nodeId}`);
  redis.on('error', (e: Error) => log.debug('redis error', { error: e.message }));
  const store = new VaultStore(redis, prefix);
  const queueKeys = new Keys(prefix);
  const extraTasks = new Map<string, Handler>();

  let enclave: Enclave | undefined;
  let system: SystemRef | undefined;
  let supervisor: VaultSupervisor | undefined;
  let ingress: Ingress | undefined;
  let ipfs: Promise<IpfsStore> | undefined;
  let tokens: TokenService | undefined;
  let gateway: Gateway | undefined;
  let signerClient: HwayClient | undefined;
  let started = false;
  // For the HTTP endpoint: the life-cycle phase, whether the enclave pool is open, and how often the
  // node's connection came back (its first 'ready' is the initial connect).
  let phase: NodePhase = 'stopped';
  let enclaveOpen = false;
  let http: HttpEndpoint | undefined;
  // Tasks by type and enclave health, published for `hway status` and the cluster page (actors/inspect/).
  const taskCounts = new TaskCounts();
  let statsPublisher: StatsPublisher | undefined;
  let redisReadies = 0;
  redis.on('ready', () => redisReadies++);
  const view: NodeView = {
    nodeId,
    prefix,
    redis,
    phase: () => phase,
    redisReconnects: () => Math.max(0, redisReadies - 1),
    enclave: () => (enclaveOpen ? enclave?.stats() : undefined),
    ingress: () => (ingress === undefined ? undefined : { stats: ingress.stats(), leases: ingress.leaseState(), owned: ingress.ownedPartitions() }),
    // Only while started: a stopped supervisor's actor never answers.
    vaults: () => (phase === 'started' ? supervisor?.stats() : undefined),
    gateway: () => gateway?.stats(),
    tokens: () => tokens,
    insecure: options.insecure === true,
    redisSource: redisSrc,
    partitions,
  };

  const openStore = (): Promise<IpfsStore> => {
    ipfs ??= openIpfs({ dataDir, ...(options.ipfs?.listen ? { listen: options.ipfs.listen } : {}), ...(options.ipfs?.peers ? { peers: options.ipfs.peers } : {}), logger: log.child({ component: 'ipfs' }) });
    return ipfs;
  };

  /** The token secret, or undefined to run without auth (only when told to); see NodeOptions.tokenSecret. */
  function tokenSecret(): string | undefined {
    if (options.insecure === true) {
      log.warn('auth is off (insecure): every producer reaches every vault of the default account');
      return undefined;
    }
    if (options.tokenSecret !== undefined) return options.tokenSecret;
    const file = options.tokenSecretFile ?? join(dataDir, 'token.secret');
    const src = loadTokenSecret({ env, file, create: options.createTokenSecret ?? false });
    if (src !== undefined) {
      if (src.origin === 'created') log.warn('created a new token secret file: tokens are issued with it (hway token issue --data-dir)', { path: src.path });
      else log.info('token secret loaded', { origin: src.origin });
      return src.secret;
    }
    if (options.authorize !== undefined) return undefined; // the embedding service checks access itself
    throw new HwayError('E_AUTH_REQUIRED', `no token secret: set HWAY_TOKEN_SECRET, create ${file} (hway start does), or run with insecure: true (--insecure-no-auth)`, { permanent: true });
  }

  /** The master keys, and whether the node made this ring itself (then it wipes it after use). */
  function masterKeys(): { ring: MasterKeyRing; own: boolean } {
    if (typeof options.masterKeys === 'string') return { ring: parseMasterKeys(options.masterKeys), own: true };
    if (options.masterKeys !== undefined) return { ring: options.masterKeys, own: false };
    let source;
    try {
      source = loadMasterKeys({ env, file: options.masterKeyFile ?? join(dataDir, 'master.key'), create: options.createMasterKey ?? false });
    } finally {
      // Read (loadMasterKeys takes a non-blank HWAY_MASTER_KEY before any file), so gone from the
      // environment, whether it parsed or not: no child process or environment dump inherits it.
      if ((env.HWAY_MASTER_KEY ?? '').trim() !== '') delete env.HWAY_MASTER_KEY;
    }
    if (source.origin === 'created') log.warn('created a new master key file: back it up, every vault sealed on this node depends on it', { path: source.path });
    else log.info('master keys loaded', { origin: source.origin, keys: source.ring.keys.length, current: source.ring.currentId });
    return { ring: source.ring, own: true };
  }

  const node: NodeInternals = {
    nodeId,
    store,
    get enclave() {
      return enclave;
    },
    get supervisor() {
      return supervisor;
    },

    registerTask<P>(type: string, def: TaskDefinition<P>): void {
      if ((VAULT_TASKS as readonly string[]).includes(type)) throw new HwayError('E_BAD_INPUT', `${type} is a built-in task type`, { permanent: true });
      const handler: Handler = async (task: Task) => {
        let payload: P;
        try {
          payload = def.validate(task.payload);
        } catch (err) {
          throw new HwayError('E_BAD_PAYLOAD', err instanceof Error ? err.message : 'invalid payload', { permanent: true });
        }
        const scope = { redis, keys: queueKeys, partition: task.partition, fence: task.epoch, taskId: task.id };
        return def.handle(payload, {
          ...task,
          payload,
          slotTag: `{${task.partition}}`,
          applyOnce: async (effect, outcome) => (await applyOnce(scope, effect, outcome)).outcome,
        });
      };
      extraTasks.set(type, handler);
      ingress?.register(type, handler);
    },

    async start(): Promise<void> {
      if (started) return;
      // Refused before anything else: a node without auth is only ever one that was told so.
      const secret = tokenSecret();
      started = true;
      phase = 'starting';
      // Up first, so that /healthz answers and /readyz says why not ready while the node starts.
      if (options.http !== undefined) {
        try {
          const { openHttpEndpoint } = await import('./http/server.js');
          http = await openHttpEndpoint(options.http, view, log.child({ component: 'http' }));
        } catch (e) {
          started = false;
          phase = 'stopped';
          throw e;
        }
      }
      // A Redis that cannot serve this node (unreachable, a cluster that is down, a single-Redis URL
      // pointing at a cluster node, keys that would span slots) fails here with one clear error,
      // before anything is started.
      await preflight(redis, 10_000, { prefix }).catch(async (e: unknown) => {
        started = false;
        phase = 'stopped';
        await http?.close();
        http = undefined;
        throw e;
      });
      const keys = masterKeys();
      try {
        // The enclave pool keeps the one host copy it needs (to key the instances it creates).
        enclave = await Enclave.open({
          masterKeys: keys.ring,
          timeoutMs: options.enclaveTimeoutMs ?? 20_000,
          ...(options.enclaveWorkers === undefined ? {} : { workers: options.enclaveWorkers }),
          ...(options.enclavePlugin === undefined ? {} : { plugin: options.enclavePlugin }),
          logger: log.child({ component: 'enclave' }),
        });
      } finally {
        if (keys.own) wipeMasterKeys(keys.ring);
      }
      enclaveOpen = true;
      // Loading Helia blocks the event loop for 1–2 s: every node loads it now, before it holds leases
      // that this pause could let expire (preloadIpfs says more); a node that serves peers also opens it.
      await preloadIpfs();
      if (options.ipfs?.listen !== undefined || options.ipfs?.peers !== undefined) await openStore();
      system = startSystem(`hway-${nodeId}`);
      supervisor = new VaultSupervisor(
        system,
        {
          enclave,
          store,
          ipfs: openStore,
          ipfsTimeoutMs: options.ipfs?.timeoutMs ?? 30_000,
          filNetwork: options.filNetwork ?? 'f',
          defaultAccount: 'default',
          log: log.child({ component: 'vault' }),
        },
        { ...DEFAULT_SUPERVISOR, ...(options.passivateMs === undefined ? {} : { passivateMs: options.passivateMs }), ...(options.mailboxLimit === undefined ? {} : { mailboxLimit: options.mailboxLimit }) },
      );
      if (secret !== undefined) {
        tokens = new TokenService({ redis: redisSrc, secret, prefix, logger: log.child({ component: 'tokens' }) });
        await tokens.whenReady();
      }
      const limits = options.gateway === false ? DEFAULT_LIMITS : (options.gateway?.rateLimits ?? DEFAULT_LIMITS);
      const authorize = options.authorize ?? (tokens === undefined ? openAccess : tokenAuthorizer(new RateLimiter(redis, limits, prefix)));
      const audit = tokens === undefined || options.audit === false ? undefined : auditTo(new AuditLog({ store: new AuditStore(redis, prefix), ...tokens.auditKeys(), retentionMs: (options.audit?.retentionDays ?? 365) * 86_400_000, log: log.child({ component: 'audit' }) }));
      const handlers: Record<string, Handler> = {
        ...vaultHandlers({ supervisor, enclave, partitions, authorize, ...(audit === undefined ? {} : { audit }) }),
        ...Object.fromEntries(extraTasks),
      };
      ingress = createIngress({
        redis: redisSrc,
        nodeId,
        prefix,
        partitions,
        handlers,
        logger: log.child({ component: 'ingress' }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.weights === undefined ? {} : { weights: options.weights }),
        ...(options.strict === undefined ? {} : { strict: options.strict }),
        ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
        ...(options.shutdownMs === undefined ? {} : { shutdownMs: options.shutdownMs }),
        ...(options.deadLetters === undefined ? {} : { deadLetters: options.deadLetters }),
        ...(tokens === undefined ? {} : { authenticate: tokenAuthenticator(tokens) }),
        observe: (o) => {
          taskCounts.observe(o);
          http?.observeTask(o);
        },
      });
      await ingress.start();
      statsPublisher = startStatsPublisher({ redis, prefix, nodeId, source: { tasks: () => taskCounts.snapshot(), enclave: () => view.enclave() }, log: log.child({ component: 'stats' }) });
      if (options.gateway !== false) {
        // The node's vaults are signers too: in process when this node owns the vault, else through
        // vault:sign tasks (an embedder's own `authorize` sees every one of those: no in-process path then).
        signerClient = new HwayClient({ redis: redisSrc, prefix, partitions, callTimeoutMs: 20_000 });
        const ing = ingress;
        const local = options.authorize !== undefined ? undefined : { partitions, epochOf: (p: number) => ing.epochOf(p), supervisor: () => supervisor };
        gateway = await startGateway({
          ...(options.gateway ?? {}),
          redis: redisSrc,
          nodeId,
          prefix,
          system, // one actor system per node: the gateway's routers and wallet actors live in it
          ...(tokens === undefined ? {} : { tokens }),
          vaultSigners: vaultSigners(store, signerClient, tokens, local),
          ...(audit === undefined ? {} : { audit }),
          logger: log.child({ component: 'gateway' }),
        });
      }
      phase = 'started';
      log.info('node started', { partitions, dataDir, gateway: gateway !== undefined, auth: tokens !== undefined, ...(http === undefined ? {} : { http: http.url }) });
    },

    async stop(): Promise<void> {
      if (!started) {
        // Never started, or its start failed: only the connection made with the node is open.
        if (redis.status !== 'end') await closeConnection(redis);
        return;
      }
      started = false;
      phase = 'stopping';
      await gateway?.stop(); // no new signing requests for the vaults
      gateway = undefined;
      await ingress?.stop(); // stop fetching, let in-flight tasks finish, release the leases
      await signerClient?.close();
      await tokens?.close();
      await supervisor?.stop();
      if (system !== undefined) stopActor(system);
      enclaveOpen = false;
      await enclave?.close();
      if (ipfs !== undefined) await (await ipfs.catch(() => undefined))?.close();
      ipfs = undefined;
      await statsPublisher?.stop(); // its last record says the node left (not died)
      statsPublisher = undefined;
      await http?.close(); // scrapable and answering STOPPING until here
      http = undefined;
      phase = 'stopped';
      await redis.quit().catch(() => redis.disconnect());
      log.info('node stopped');
    },

    async stats(): Promise<NodeStats> {
      if (ingress === undefined || supervisor === undefined || enclave === undefined) throw new HwayError('E_CLOSED', 'node is not started');
      return {
        nodeId,
        partitions: ingress.ownedPartitions(),
        vaults: await supervisor.stats(),
        ingress: ingress.stats(),
        enclave: enclave.stats(),
        gateway: gateway === undefined ? null : gateway.stats(),
        auth: tokens !== undefined,
        http: http === undefined ? null : { url: http.url },
      };
    },

    ipfs: openStore,
  };
  return node;
}
