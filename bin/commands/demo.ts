// `hway demo`: the whole runtime once, self-contained and leaving nothing behind. Two in-process
// nodes, each with its own temporary data directory, in-memory master key and unique key prefix (so
// the demo never touches other data on the same Redis), run every vault operation through the real
// pipeline (client → Redis stream → ingress → vault actor → WASM enclave → reply), move an export
// from one node's IPFS store to the other's, and show an error answered with its stable code.
// When no Redis answers and redis-server is installed, a private one runs for the demo's duration.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import winston from 'winston';
import type { Redis } from 'ioredis';
import type { HwayClient } from '../../actors/client.js';
import type { NodeInternals as HwayNode } from '../../actors/node.js';
import { isHwayError } from '../../errors.js';
import { setRootLogger } from '../../log.js';
import { GatewayClient, localKeyWallet, TokenService, WalletConnector } from '../../actors/gateway/index.js';
import { connectRedis, DEFAULT_REDIS, EXIT_REDIS, flagHelp, parseFlags, positionals, redisChoice, REDIS_FLAGS, type Command, type Io, type RedisTarget } from '../cli.js';
import { deleteKeysWithPrefix } from '../../storage/prefix-keys.js';

const FLAGS = {
  redis: { type: 'string', env: 'HWAY_REDIS', helpDefault: DEFAULT_REDIS, arg: 'URL', desc: 'Redis to use; a private one runs when none answers and redis-server is on PATH' },
  'redis-cluster': { ...REDIS_FLAGS['redis-cluster'], desc: 'seed nodes of a Redis Cluster to use instead (no private Redis then)' },
  verbose: { type: 'boolean', desc: 'print the nodes\' warnings and errors (JSON lines) on stderr' },
} as const;

const help = `hway demo [flags]

Runs every operation once on two in-process nodes and prints what each step did and how long it
took: generate a vault (eth and fil addresses), sign, verify (and a tampered message failing),
refresh, export to IPFS, import on a second node (own data dir, master key and key prefix, fetching
the export from the first node over libp2p) and sign there with the same result, an error answered
with a stable code, a wallet and a vault signing through the signer gateway (when it is part of
the build), and node stats.

Everything is temporary: data directories, master keys (HWAY_MASTER_KEY is used for the first node
when set), and a unique key prefix on Redis, all removed at the end. When no Redis answers at --redis
and redis-server is on PATH, a private one runs on a free port in a temporary directory. With
--redis-cluster HOST:PORT[,…] the demo runs on that Redis Cluster instead (never a private one).

With --json: exactly one object {"steps":[{"name","ok","ms","detail"}…]} on stdout.
Exits 0 only when every step is ok.

flags:
${flagHelp(FLAGS)}`;

export interface DemoStep {
  name: string;
  ok: boolean;
  ms: number;
  detail?: string;
  skipped?: boolean;
}

const MESSAGE = 'hello from hway';

function findOnPath(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function startPrivateRedis(bin: string): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'hway-demo-redis-'));
  const port = await freePort();
  const proc: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try {
      (await connectRedis(url, 500)).disconnect();
      return { url, port, stop };
    } catch {
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error(`redis-server did not start on port ${port}`);
}


const short = (hex: string, n = 8): string => (hex.length > 2 * n + 1 ? `${hex.slice(0, n)}…${hex.slice(-n)}` : hex);

export const command: Command = {
  name: 'demo',
  summary: 'the whole runtime once, self-contained: vault ops, IPFS export/import, errors, stats',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const choice = redisChoice(flags);
    // Logs only with --verbose, and then warnings and errors only: the steps are the output.
    setRootLogger(
      winston.createLogger({
        level: 'warn',
        silent: !flags.verbose,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
        transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
      }),
    );

    const steps: DemoStep[] = [];
    const t0 = performance.now();
    const print = (s: DemoStep): void => {
      if (io.json) return;
      const mark = s.skipped ? '–' : s.ok ? '✓' : '✗';
      process.stdout.write(`${mark} ${s.name.padEnd(22)} ${`${s.ms} ms`.padStart(8)}  ${s.detail ?? ''}\n`);
    };
    async function step<T>(name: string, f: () => Promise<{ value: T; detail: string; ok?: boolean }>): Promise<T | undefined> {
      const t = performance.now();
      let s: DemoStep;
      let value: T | undefined;
      try {
        const r = await f();
        value = r.value;
        s = { name, ok: r.ok ?? true, ms: Math.round(performance.now() - t), detail: r.detail };
      } catch (e) {
        s = { name, ok: false, ms: Math.round(performance.now() - t), detail: isHwayError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e) };
      }
      steps.push(s);
      if (unreachable === undefined) print(s);
      return s.ok ? value : undefined;
    }
    const tag = randomBytes(3).toString('hex');
    const prefixA = `hway-demo-${tag}`;
    const prefixB = `hway-demo-${tag}-b`;
    const partitions = 8;
    const dirs: string[] = [];
    const nodes: HwayNode[] = [];
    const clients: HwayClient[] = [];
    /** Gateway parts, stopped before the nodes (wallet and producer first, then the gateway). */
    const stoppers: Array<() => Promise<void>> = [];
    let privateRedis: PrivateRedis | undefined;
    let admin: Redis | undefined;
    let cleaned = false;
    /** No Redis and no redis-server: reported like every other command (one line, exit 3). */
    let unreachable: unknown;

    const cleanup = async (): Promise<void> => {
      if (cleaned) return;
      cleaned = true;
      for (const stop of stoppers.splice(0)) await stop().catch(() => undefined);
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
      if (admin) {
        await deleteKeysWithPrefix(admin, prefixA).catch(() => undefined);
        await deleteKeysWithPrefix(admin, prefixB).catch(() => undefined);
        admin.disconnect();
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      await privateRedis?.stop();
    };
    const onSignal = (): void => {
      process.stderr.write('hway: interrupted, cleaning up\n');
      void cleanup().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    const body = async (): Promise<number> => {
      // 1. Redis: the one given, else (a single Redis that does not answer) a private one.
      let url: RedisTarget = choice.redis;
      const reached = await step('redis', async () => {
        try {
          admin = await connectRedis(url, 1000);
          return { value: true, detail: `${choice.redisLabel}, key prefix ${prefixA} (removed at the end)` };
        } catch (e) {
          // A cluster, or a Redis that answers but cannot serve (a cluster node given as --redis), is
          // the user's to fix: reported like every other command (one line, exit 3).
          const bin = findOnPath('redis-server', io.env);
          if (bin === undefined || typeof url !== 'string' || !isHwayError(e) || e.code !== 'E_REDIS_UNAVAILABLE') {
            unreachable = e;
            throw e;
          }
          privateRedis = await startPrivateRedis(bin);
          url = privateRedis.url;
          admin = await connectRedis(url, 1000);
          return { value: true, detail: `no Redis at ${choice.redisLabel}: started a private redis-server on port ${privateRedis.port} (stopped at the end)` };
        }
      });
      if (!reached) return EXIT_REDIS;

      const [{ createNode }, { HwayClient }] = await Promise.all([import('../../actors/node.js'), import('../../actors/client.js')]);
      // Auth on, as in production: each deployment has its own token secret (in memory here) and
      // issues tokens of account "demo": "admin" for the vault client (export needs it), "sign" for
      // the wallet and the gateway's producer.
      const secrets = new Map<string, string>();
      const tokenFor = async (prefix: string, perm: 'sign' | 'admin' = 'sign'): Promise<string> => {
        const issuer = new TokenService({ redis: url, secret: secrets.get(prefix)!, prefix, subscribe: false });
        try {
          return (await issuer.issue({ account: 'demo', perm, ttlSec: 3600 })).token;
        } finally {
          await issuer.close();
        }
      };
      const makeNode = (prefix: string, masterKeys: string, ipfs: { listen?: string[]; peers?: string[] }): HwayNode => {
        const dataDir = mkdtempSync(join(tmpdir(), 'hway-demo-'));
        dirs.push(dataDir);
        const tokenSecret = randomBytes(32).toString('hex');
        secrets.set(prefix, tokenSecret);
        const n = createNode({ redis: url, prefix, partitions, dataDir, masterKeys, tokenSecret, ipfs: { ...ipfs, timeoutMs: 30_000 }, env: {} });
        nodes.push(n);
        return n;
      };
      const makeClient = async (prefix: string): Promise<HwayClient> => {
        // Export and import run Argon2id at 256 MiB (~2 s of CPU each): on a busy machine a result can
        // take well over 20 s, which is slow, not failed.
        const c = new HwayClient({ redis: url, prefix, partitions, callTimeoutMs: 60_000, token: await tokenFor(prefix, 'admin') });
        clients.push(c);
        return c;
      };
      const newKey = (): string => `1:${randomBytes(32).toString('hex')}`;

      // 2. First node.
      const envKey = (io.env.HWAY_MASTER_KEY ?? '').trim();
      const nodeA = makeNode(prefixA, envKey !== '' ? envKey : newKey(), { listen: ['/ip4/127.0.0.1/tcp/0'] });
      const addrs = await step('start node 1', async () => {
        await nodeA.start();
        const a = (await nodeA.ipfs()).multiaddrs();
        const st = await nodeA.stats();
        return { value: a, detail: `${nodeA.nodeId}: ${st.partitions.length}/${partitions} partitions, master key ${envKey ? 'from HWAY_MASTER_KEY' : 'in memory'}, IPFS ${a[0] ?? '-'}` };
      });
      if (!addrs) return 1;
      const client = await makeClient(prefixA);
      const vaultId = `demo-${tag}`;

      // 3–7. Vault operations.
      const v = await step('generate', async () => {
        const r = await client.vault.generate(vaultId);
        return { value: r, detail: `vault ${r.vaultId}: eth ${r.addresses.eth}  fil ${r.addresses.fil}` };
      });
      if (!v) return 1;
      const msgHex = Buffer.from(MESSAGE).toString('hex');
      const sig = await step('sign', async () => {
        const r = await client.vault.sign(vaultId, msgHex, { hash: 'sha256' });
        return { value: r, detail: `sha256("${MESSAGE}") → signature ${short(r.signature)}, recovery ${r.recovery}` };
      });
      if (sig) {
        await step('verify', async () => {
          const good = await client.vault.verify(v.publicKey, msgHex, sig.signature, { hash: 'sha256' });
          const bad = await client.vault.verify(v.publicKey, Buffer.from(`${MESSAGE}!`).toString('hex'), sig.signature, { hash: 'sha256' });
          return { value: true, ok: good.valid && !bad.valid, detail: `original message: ${good.valid ? 'valid' : 'INVALID'}; tampered message: ${bad.valid ? 'VALID (wrong)' : 'invalid'}` };
        });
      }
      await step('refresh', async () => {
        const r = await client.vault.refresh(vaultId);
        const same = r.publicKey === v.publicKey;
        return { value: r, ok: same && r.epoch === 1, detail: `re-sealed under the current master key: epoch ${r.epoch}, public key ${same ? 'unchanged' : 'CHANGED'}` };
      });
      const password = randomBytes(12).toString('base64url');
      const cid = await step('export', async () => {
        const r = await client.vault.export(vaultId, password);
        return { value: r.cid, detail: `password-encrypted, stored in node 1's IPFS: ${r.cid}` };
      });

      // 8–11. A second deployment: own prefix, data dir and master key; fetches the export over libp2p.
      if (cid) {
        const nodeB = makeNode(prefixB, newKey(), { peers: addrs });
        const started = await step('start node 2', async () => {
          await nodeB.start();
          return { value: true, detail: `${nodeB.nodeId}: own prefix, data dir and master key; dialed node 1 over libp2p` };
        });
        if (started) {
          const remote = await makeClient(prefixB);
          const imported = await step('import on node 2', async () => {
            const r = await remote.vault.import(cid, `${vaultId}-copy`, password);
            const same = r.publicKey === v.publicKey;
            return { value: r, ok: same, detail: `fetched ${short(cid, 6)} from node 1, restored as ${r.vaultId}: public key ${same ? 'identical' : 'DIFFERENT'}` };
          });
          if (imported && sig) {
            await step('sign on node 2', async () => {
              const r = await remote.vault.sign(`${vaultId}-copy`, msgHex, { hash: 'sha256' });
              const same = r.signature === sig.signature;
              return { value: r, ok: same, detail: `same message → ${same ? 'identical signature (RFC 6979)' : 'DIFFERENT signature'}` };
            });
          }
          await step('error: wrong password', async () => {
            try {
              await remote.vault.import(cid, `${vaultId}-bad`, `${password}x`);
              return { value: false, ok: false, detail: 'import with a wrong password succeeded (it must not)' };
            } catch (e) {
              const code = isHwayError(e) ? e.code : 'E_INTERNAL';
              return { value: true, ok: code === 'E_WRONG_PASSWORD', detail: `import with a wrong password → ${code} (not retried, kept as a dead letter)` };
            }
          });
        }
      }

      // 12. The node's signer gateway: a wallet (here in-process, its key held by the wallet, never by
      // the node) proves its key, then a producer asks for a signature by address alone.
      const sk = secp256k1.utils.randomSecretKey();
      const wallet = await step('gateway: wallet', async () => {
        const local = localKeyWallet([sk], { form: 'eth' });
        const w = new WalletConnector({ redis: url, prefix: prefixA, token: await tokenFor(prefixA), ...local });
        stoppers.unshift(() => w.close());
        const welcome = await w.connect();
        const address = local.addresses[0]!;
        return { value: address, ok: welcome.accepted.includes(address), detail: `a wallet proved its key for ${address} and is routed` };
      });
      if (wallet) {
        const producer = new GatewayClient({ redis: url, prefix: prefixA, timeoutMs: 30_000, token: await tokenFor(prefixA) });
        stoppers.unshift(() => producer.close());
        await step('gateway: sign', async () => {
          const r = await producer.walletSign(wallet, Buffer.from(MESSAGE), { type: 'sha256' });
          const digest = createHash('sha256').update(MESSAGE).digest();
          const valid = secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, secp256k1.getPublicKey(sk), { prehash: false });
          return { value: r, ok: valid, detail: `a producer asked by address; the wallet signed (via connection ${r.via.slice(0, 8)}): signature ${valid ? 'verified' : 'INVALID'}` };
        });
        await step('gateway: vault', async () => {
          const r = await producer.walletSign(v.addresses.eth, Buffer.from(MESSAGE), { type: 'sha256' });
          const same = sig !== undefined && r.signature === sig.signature;
          return { value: r, ok: same && r.via === `vault:${vaultId}`, detail: `by the vault's eth address: signed ${r.via === `vault:${vaultId}` ? `by ${r.via}` : `via ${r.via}`}, ${same ? 'same signature as vault sign' : 'DIFFERENT signature'}` };
        });
      }

      // 13. Stats.
      await step('node stats', async () => {
        const s = await nodeA.stats();
        return {
          value: s,
          detail: `node 1: ${s.ingress.completed} tasks completed, ${s.ingress.archived} archived, ${s.ingress.retried} retried; ${s.vaults.active} vault actor(s) active, ${s.vaults.crashes} crashes`,
        };
      });

      // 14. Graceful stop of both nodes (in-flight tasks finish, leases released).
      await step('stop nodes', async () => {
        for (const stop of stoppers.splice(0)) await stop();
        await Promise.all(clients.map((c) => c.close()));
        clients.length = 0;
        await Promise.all(nodes.map((n) => n.stop()));
        nodes.length = 0;
        return { value: true, detail: 'in-flight tasks finished, leases released, enclaves closed' };
      });
      return 0;
    };

    let code = 1;
    try {
      code = await body();
    } finally {
      await cleanup();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (unreachable !== undefined) throw unreachable;
    return finish(code);

    function finish(codeIfOk: number): number {
      const ok = steps.filter((s) => s.ok).length;
      const all = ok === steps.length && codeIfOk === 0;
      const total = Math.round(performance.now() - t0);
      if (io.json) {
        io.out({ steps: steps.map(({ name, ok: o, ms, detail, skipped }) => ({ name, ok: o, ms, ...(detail ? { detail } : {}), ...(skipped ? { skipped } : {}) })) }, '');
      } else {
        process.stdout.write(`${all ? '✓' : '✗'} ${ok}/${steps.length} steps ok in ${(total / 1000).toFixed(1)} s${privateRedis ? '; private redis-server stopped' : ''}\n`);
      }
      return all ? 0 : codeIfOk === 0 ? 1 : codeIfOk;
    }
  },
};
