// `hway start`: one node in this process until SIGINT/SIGTERM. A signal stops it gracefully: the
// node stops fetching, lets in-flight tasks finish, releases its partition leases and leaves the
// membership, so that other nodes take its partitions at once rather than after lease expiry.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_READY_PING_MS, parseHttpAddress, type HttpOptions } from '../../actors/http/options.js';
import { setDefaultLogLevel } from '../../log.js';
import { preflight } from '../../storage/redis-preflight.js';
import { clusterOptions, connectRedis, flagHelp, flagSource, parseFlags, positionals, PREFLIGHT_MS, REDIS_FLAGS, UsageError, type Command, type Io } from '../cli.js';

const FLAGS = {
  ...REDIS_FLAGS,
  'data-dir': { type: 'string', env: 'HWAY_DATA_DIR', default: './.hway', arg: 'DIR', desc: 'master key file and IPFS blockstore' },
  'node-id': { type: 'string', env: 'HWAY_NODE_ID', arg: 'ID', desc: 'this node\'s id, default node-<random>' },
  concurrency: { type: 'number', env: 'HWAY_CONCURRENCY', default: 10, desc: 'tasks in flight on this node' },
  'master-key-file': { type: 'string', arg: 'F', desc: 'master key file (default <data-dir>/master.key; created on first start, mode 0600; HWAY_MASTER_KEY wins)' },
  'ipfs-listen': { type: 'list', arg: 'MULTIADDR', desc: 'IPFS listen address, e.g. /ip4/127.0.0.1/tcp/4010' },
  'ipfs-peer': { type: 'list', arg: 'MULTIADDR', desc: 'IPFS peer to dial (with /p2p/<peerId>)' },
  'no-gateway': { type: 'boolean', desc: 'do not run the signer gateway on this node' },
  'token-secret-file': { type: 'string', arg: 'F', desc: 'token secret file (default <data-dir>/token.secret; created on first start, mode 0600; HWAY_TOKEN_SECRET wins)' },
  'insecure-no-auth': { type: 'boolean', env: 'HWAY_INSECURE_NO_AUTH', desc: 'run without auth: every producer reaches every vault (only for a Redis nobody else reaches)' },
  'dead-letters-max': { type: 'number', env: 'HWAY_DEAD_LETTERS_MAX', default: 10_000, arg: 'N', desc: 'dead letters kept per partition (the oldest go first)' },
  'dead-letters-days': { type: 'number', env: 'HWAY_DEAD_LETTERS_DAYS', default: 90, arg: 'D', desc: 'days a dead letter is kept' },
  'audit-retention-days': { type: 'number', env: 'HWAY_AUDIT_RETENTION_DAYS', default: 365, arg: 'D', desc: 'days audit entries are kept (auth on; see hway audit)' },
  http: { type: 'string', env: 'HWAY_HTTP', arg: 'HOST:PORT', desc: 'serve /metrics, /healthz, /readyz (no auth), the cluster page, /v1 and /rpc/v0 (credential) here (off by default; HOST defaults to 127.0.0.1, port 0 picks one)' },
  'ready-ping-ms': { type: 'number', env: 'HWAY_READY_PING_MS', default: DEFAULT_READY_PING_MS, arg: 'MS', desc: 'with --http: how long /readyz waits for Redis to answer a PING before it says REDIS_UNREACHABLE (keep it under your probe\'s timeout)' },
} as const;

const help = `hway start [flags]

Runs one Highway node until SIGINT or SIGTERM (graceful stop: in-flight tasks finish, partition
leases are released). Logs are JSON lines on stderr (level: env HWAY_LOG_LEVEL, default info).
Redis is one server (--redis URL) or a Redis Cluster (--redis-cluster HOST:PORT[,HOST:PORT…], any
reachable nodes as seeds); not both. Before serving, the node checks that this Redis can work:
reachable, the right kind (--redis at a cluster node is refused), every cluster slot assigned and
the cluster up, and a partition's keys in one slot (a Lua probe). When it cannot, one line on stderr
says why and the exit code is 3 (E_REDIS_UNAVAILABLE or E_REDIS_MISCONFIGURED).
On first start the master key file is created (mode 0600): back it up, every vault sealed by this
node depends on it. Auth is on: producers and wallets need tokens (hway token issue), made with the
token secret (HWAY_TOKEN_SECRET, else <data-dir>/token.secret, created on first start, mode 0600;
every node of a cluster needs the same one). --insecure-no-auth runs without. The node also runs
the signer gateway (wallets connect to it; the node's own vaults sign by address too).
--http HOST:PORT serves Prometheus metrics (/metrics), liveness (/healthz) and readiness (/readyz:
200, or 503 with reasons) without auth: keep it on loopback (the default host) or a private network;
--http 0.0.0.0:PORT shows them to anyone who reaches the port. It also serves, with a credential as
the bearer: the live cluster page (/, admin), the vault operations as JSON (/v1/…, described by
/openapi.json) and sophon-gateway's JSON-RPC API (/rpc/v0, HTTP and WebSocket).

flags:
${flagHelp(FLAGS, 'print {"ready":true,"nodeId","multiaddrs",…} on stdout once serving')}`;

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export const command: Command = {
  name: 'start',
  summary: 'run one node until SIGINT/SIGTERM',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    setDefaultLogLevel('info'); // a node run as its own service logs its life cycle
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const { redis, redisLabel, prefix, partitions } = clusterOptions(flags);
    const nodeId = flags['node-id'];
    if (nodeId !== undefined && !ID_RE.test(nodeId)) throw new UsageError('--node-id must be 1–64 characters of A–Z a–z 0–9 . _ -');
    const concurrency = flags.concurrency ?? 10;
    if (concurrency < 1) throw new UsageError('--concurrency must be at least 1');
    const deadMax = flags['dead-letters-max'] ?? 10_000;
    const deadDays = flags['dead-letters-days'] ?? 90;
    if (!Number.isInteger(deadMax) || deadMax < 1) throw new UsageError('--dead-letters-max must be a positive integer');
    if (!(deadDays > 0)) throw new UsageError('--dead-letters-days must be more than 0');
    const auditDays = flags['audit-retention-days'] ?? 365;
    if (!(auditDays > 0)) throw new UsageError('--audit-retention-days must be more than 0');
    let http: HttpOptions | undefined;
    if (flags.http !== undefined) {
      try {
        http = parseHttpAddress(flags.http);
      } catch (e) {
        throw new UsageError(`--http: ${e instanceof Error ? e.message : String(e)}`);
      }
      http.readyPingMs = flags['ready-ping-ms'] ?? DEFAULT_READY_PING_MS;
      if (!(http.readyPingMs > 0)) throw new UsageError('--ready-ping-ms must be more than 0');
    } else if (flagSource(flags, 'ready-ping-ms') === 'argv') {
      throw new UsageError('--ready-ping-ms needs --http (it bounds the endpoint\'s /readyz)');
    }
    const dataDir = resolve(flags['data-dir'] ?? './.hway');
    const keyFile = resolve(flags['master-key-file'] ?? join(dataDir, 'master.key'));
    const keyFromEnv = (io.env.HWAY_MASTER_KEY ?? '').trim() !== '';
    const insecure = flags['insecure-no-auth'] === true;
    const secretFile = resolve(flags['token-secret-file'] ?? join(dataDir, 'token.secret'));
    const secretFromEnv = (io.env.HWAY_TOKEN_SECRET ?? '') !== '';

    // The node's own connections retry forever; a user who forgot Redis, or pointed at the wrong
    // kind of Redis, wants to hear it at once (exit 3), before a master key file is created.
    const probe = await connectRedis(redis);
    try {
      await preflight(probe, PREFLIGHT_MS, { prefix });
    } finally {
      probe.disconnect();
    }
    process.stderr.write(`hway: preflight ok: ${redisLabel} can serve prefix "${prefix}"\n`);

    const hadKeyFile = existsSync(keyFile);
    const hadSecretFile = existsSync(secretFile);
    const { createNode } = await import('../../actors/node.js');
    const listen = flags['ipfs-listen'];
    const peers = flags['ipfs-peer'];
    const node = createNode({
      redis,
      prefix,
      partitions,
      dataDir,
      concurrency,
      masterKeyFile: keyFile,
      createMasterKey: true,
      deadLetters: { max: deadMax, maxAgeMs: Math.round(deadDays * 24 * 3600 * 1000) },
      audit: { retentionDays: auditDays },
      ...(insecure ? { insecure: true } : { tokenSecretFile: secretFile, createTokenSecret: true }),
      env: io.env,
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(listen.length || peers.length ? { ipfs: { ...(listen.length ? { listen } : {}), ...(peers.length ? { peers } : {}) } } : {}),
      ...(flags['no-gateway'] ? { gateway: false as const } : {}),
      ...(http === undefined ? {} : { http }),
    });

    // node.stop() stops the gateway first (no new requests for the vaults), then drains its tasks.
    const stopAll = (): Promise<void> => node.stop();
    let starting: Promise<void> | undefined;
    let stopping: Promise<void> | undefined;
    let signals = 0;
    const stopped = new Promise<number>((resolveExit) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++;
        // `hway cluster` forwards a signal that the terminal may also have sent to the whole group:
        // two signals are one request; a third means "now".
        if (signals >= 3) {
          process.stderr.write(`hway: ${sig} again, exiting without waiting\n`);
          process.exit(130);
        }
        if (stopping) return;
        process.stderr.write(`hway: ${sig}: stopping node ${node.nodeId} (in-flight tasks finish, leases are released)\n`);
        // A signal during start stops the node once it is up, so nothing is left half-started.
        stopping = (starting ?? Promise.resolve()).catch(() => undefined).then(stopAll);
        stopping.then(
          () => resolveExit(0),
          (e: unknown) => {
            process.stderr.write(`hway: stop failed: ${e instanceof Error ? e.message : String(e)}\n`);
            resolveExit(1);
          },
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });

    starting = node.start();
    await starting;
    const gateway = !flags['no-gateway'];
    if (!keyFromEnv && !hadKeyFile && existsSync(keyFile)) {
      process.stderr.write(`hway: created master key file ${keyFile} (mode 0600): back it up, every vault sealed by this node depends on it\n`);
    }
    if (insecure) {
      process.stderr.write('hway: auth is off (--insecure-no-auth): every producer reaches every vault of the default account\n');
    } else if (!secretFromEnv && !hadSecretFile && existsSync(secretFile)) {
      process.stderr.write(`hway: created token secret file ${secretFile} (mode 0600): issue tokens with hway token issue --data-dir ${dataDir}\n`);
    }
    const multiaddrs = listen.length ? (await node.ipfs()).multiaddrs() : [];
    const httpUrl = http === undefined ? undefined : (await node.stats()).http?.url;
    const ready = { ready: true, nodeId: node.nodeId, prefix, partitions, dataDir, multiaddrs, ...(httpUrl === undefined ? {} : { http: httpUrl }) };
    if (io.json) io.out(ready, '');
    process.stderr.write(
      `hway: node ${node.nodeId} serving prefix "${prefix}" (${partitions} partitions, data ${dataDir}${gateway ? ', signer gateway' : ''})${multiaddrs.length ? `, IPFS ${multiaddrs.join(' ')}` : ''}${httpUrl === undefined ? '' : `, metrics and health on ${httpUrl}`}; Ctrl-C stops it\n`,
    );
    return stopped;
  },
};
