// Gateway benchmark: walletSign through the gateway to an external wallet process (a child process
// holding a real key), next to the same wallet asked directly over its own Redis channel, in the same
// run. Latency (sequential, interleaved in blocks so that both see the same machine state) and
// throughput (concurrent chains). Reports the gateway's overhead at p50 and ratios to the baseline.
//   node --import tsx bench/gateway.ts [--json] [--n 2000] [--concurrency 32] [--seconds 3]
//        [--redis URL] [--no-auth] [--node-process] [--verifier enclave|noble|none (diagnostic: skips the check)]
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import winston from 'winston';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startGateway, nobleVerifier } from '../actors/gateway/gateway.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { frameKey } from '../actors/gateway/frame-auth.js';
import { CONN_AUTH_FIELD, walletWire, type ConnAuthRecord } from '../actors/gateway/node-auth.js';
import { parseCredential } from '../actors/credential.js';
import { addressesOf } from '../enclaves/addresses.js';
import { fmt, percentile, table, throughput, wantsJson, type Row } from './report.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
// Issue 11: the gateway may add at most 0.5 ms at p50 over a direct call to the same wallet.
const TARGET_MS = 0.5;
const N = Number(arg('n', '2000'));
const CONC = Number(arg('concurrency', '32'));
const SECONDS = Number(arg('seconds', '3'));
const REDIS = arg('redis', process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379');
const AUTH = !argv.includes('--no-auth');
const VERIFIER = arg('verifier', 'enclave');
/** Run the gateway node as its own process (as in a deployment) instead of inside this one. */
const NODE_PROCESS = argv.includes('--node-process');
const log = (s: string): void => {
  if (!wantsJson()) process.stderr.write(`${s}\n`);
};

const prefix = `hway-bench-gw-${randomBytes(3).toString('hex')}`;
const keys = new GwKeys(prefix);
const secret = randomBytes(32).toString('hex');
const quiet = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });

const sk = secp256k1.utils.randomSecretKey();
const address = addressesOf(secp256k1.getPublicKey(sk, false)).eth;

/**
 * Asks the wallet directly: one SPUBLISH to its channel, its answer on ours. No token checks, no
 * limits, no routing; with auth on, the frame is sealed under the connection's frame key as the
 * wallet requires (derived here from the wallet's credential and the connection's record, as a node
 * would).
 */
class Direct {
  private readonly pub = new Redis(REDIS, { enableAutoPipelining: true });
  private readonly sub = new Redis(REDIS);
  private readonly channel = `${prefix}:bench:direct:${randomUUID()}`;
  private readonly waiting = new Map<string, (ok: boolean) => void>();
  constructor(
    private readonly connId: string,
    private readonly fk: Uint8Array | undefined,
  ) {}
  async open(): Promise<void> {
    this.sub.on('message', (_c: string, m: string) => {
      const r = JSON.parse(m) as { id: string; ok: boolean };
      this.waiting.get(r.id)?.(r.ok);
      this.waiting.delete(r.id);
    });
    await this.sub.subscribe(this.channel);
  }
  sign(digest: Uint8Array): Promise<boolean> {
    const id = randomUUID();
    const p = new Promise<boolean>((resolve) => this.waiting.set(id, resolve));
    const frame = { t: 'sign', id, reply: this.channel, address, bytes: Buffer.from(digest).toString('hex'), meta: { type: 'raw' }, deadline: Date.now() + 20_000 } as const;
    void this.pub.spublish(keys.toConn(this.connId), walletWire(this.connId, frame, this.fk));
    return p;
  }
  close(): void {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}

async function main(): Promise<void> {
  const tokens = AUTH ? new TokenService({ redis: REDIS, secret, prefix, subscribe: false, logger: quiet }) : undefined;
  const walletToken = tokens ? (await tokens.issue({ account: 'bench', perm: 'sign', ttlSec: 3600 })).token : undefined;
  const producerToken = tokens ? (await tokens.issue({ account: 'bench', perm: 'sign', ttlSec: 3600 })).token : undefined;
  let stopNode: () => Promise<void>;
  if (NODE_PROCESS) {
    if (VERIFIER === 'none') throw new Error('--verifier none needs the in-process node');
    const nodeFixture = fileURLToPath(new URL('../spec/fixtures/gateway-node.ts', import.meta.url));
    const node = spawn(
      process.execPath,
      ['--import', 'tsx', '--disable-warning=ExperimentalWarning', nodeFixture, JSON.stringify({ redis: REDIS, prefix, nodeId: `bench-${randomUUID()}`, maxInFlightPerWallet: 1024, verifier: VERIFIER === 'noble' ? 'noble' : 'default', ...(AUTH ? { tokenSecret: secret } : {}) })],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('gateway node process did not start')), 20_000);
      node.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('"ready"')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    stopNode = async () => {
      node.stdin!.write('stop\n');
      await new Promise((r) => node.once('exit', r));
    };
  } else {
    const gw = await startGateway({
      redis: REDIS,
      prefix,
      logger: quiet,
      ...(AUTH ? { tokenSecret: secret } : {}),
      ...(VERIFIER === 'noble' ? { verifier: nobleVerifier } : {}),
      // Diagnostic only: how much of the overhead is the signature check.
      ...(VERIFIER === 'none' ? { verifier: async () => true } : {}),
      // Throughput runs push many requests at one wallet: let the wallet's own queue be the bound.
      maxInFlightPerWallet: 1024,
    });
    stopNode = () => gw.stop();
  }
  const fixture = fileURLToPath(new URL('../spec/fixtures/wallet-process.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--disable-warning=ExperimentalWarning', fixture, JSON.stringify({ redis: REDIS, prefix, keys: [Buffer.from(sk).toString('hex')], maxConcurrent: 256, ...(walletToken ? { token: walletToken } : {}) })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const connId = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('wallet process did not connect')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line) as { ev: string; connId?: string; code?: string };
        if (e.ev === 'connected') {
          clearTimeout(t);
          resolve(e.connId!);
        } else if (e.ev === 'refused') reject(new Error(`wallet refused: ${e.code}`));
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
  });
  const client = new GatewayClient({ redis: REDIS, prefix, ...(producerToken ? { token: producerToken } : {}) });
  let fk: Uint8Array | undefined;
  if (walletToken) {
    const r = new Redis(REDIS);
    const rec = JSON.parse((await r.hget(keys.connInfo(connId), CONN_AUTH_FIELD)) ?? 'null') as ConnAuthRecord;
    r.disconnect();
    fk = frameKey(parseCredential(walletToken).requestKey, connId, Buffer.from(rec.w, 'hex'), Buffer.from(rec.g, 'hex'));
  }
  const direct = new Direct(connId, fk);
  await direct.open();
  const digest = randomBytes(32);
  const viaGateway = async (): Promise<void> => {
    await client.walletSign(address, digest, { type: 'raw' });
  };
  const viaDirect = async (): Promise<void> => {
    if (!(await direct.sign(digest))) throw new Error('direct sign failed');
  };

  try {
    log(`warming up (auth ${AUTH ? 'on' : 'off'}, verifier ${VERIFIER}) …`);
    for (let i = 0; i < 300; i++) {
      await viaDirect();
      await viaGateway();
    }
    log(`latency: ${N} sequential signs each, interleaved in blocks of 100 …`);
    const lat = { direct: [] as number[], gateway: [] as number[] };
    for (let done = 0; done < N; done += 100) {
      for (const [name, f] of [['direct', viaDirect], ['gateway', viaGateway]] as const) {
        for (let i = 0; i < Math.min(100, N - done); i++) {
          const t = performance.now();
          await f();
          lat[name].push(performance.now() - t);
        }
      }
    }
    for (const l of Object.values(lat)) l.sort((a, b) => a - b);
    log(`throughput: ${CONC} concurrent chains for ${SECONDS} s each …`);
    const tpDirect = await throughput(viaDirect, SECONDS * 1000, CONC);
    const tpGateway = await throughput(viaGateway, SECONDS * 1000, CONC);

    const stat = (l: number[]): { p50: number; p99: number } => ({ p50: percentile(l, 50), p99: percentile(l, 99) });
    const d = stat(lat.direct);
    const g = stat(lat.gateway);
    const result = {
      bench: 'gateway',
      n: N,
      concurrency: CONC,
      auth: AUTH,
      verifier: VERIFIER,
      node: NODE_PROCESS ? 'own process' : 'in the benchmark process',
      direct: { p50Ms: +d.p50.toFixed(3), p99Ms: +d.p99.toFixed(3), opsPerSec: Math.round(tpDirect) },
      gateway: { p50Ms: +g.p50.toFixed(3), p99Ms: +g.p99.toFixed(3), opsPerSec: Math.round(tpGateway) },
      overheadP50Ms: +(g.p50 - d.p50).toFixed(3),
      overheadP99Ms: +(g.p99 - d.p99).toFixed(3),
      ratios: { p50: +(g.p50 / d.p50).toFixed(2), p99: +(g.p99 / d.p99).toFixed(2), throughput: +(tpGateway / tpDirect).toFixed(2) },
      targetOverheadP50Ms: TARGET_MS,
      meetsTarget: g.p50 - d.p50 <= TARGET_MS,
    };
    if (wantsJson()) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const rows: Row[] = [
        { path: 'direct to wallet (baseline)', 'p50 ms': d.p50, 'p99 ms': d.p99, 'signs/s': Math.round(tpDirect), 'p50 ratio': 1, 'tput ratio': 1 },
        { path: 'through the gateway', 'p50 ms': g.p50, 'p99 ms': g.p99, 'signs/s': Math.round(tpGateway), 'p50 ratio': result.ratios.p50, 'tput ratio': result.ratios.throughput },
      ];
      process.stdout.write(`${table(`walletSign (raw, 32-byte digest), ${N} sequential + ${CONC} concurrent for ${SECONDS} s; auth ${AUTH ? 'on' : 'off'}, verifier ${VERIFIER}, node ${NODE_PROCESS ? 'in its own process' : 'in-process'}`, rows)}\n`);
      process.stdout.write(`gateway overhead at p50: ${fmt(result.overheadP50Ms, 3)} ms (target ≤ ${TARGET_MS} ms: ${result.meetsTarget ? 'met' : 'NOT met'}); at p99: ${fmt(result.overheadP99Ms, 3)} ms\n`);
    }
  } finally {
    direct.close();
    await client.close();
    child.kill('SIGTERM');
    await stopNode();
    await tokens?.close();
    const r = new Redis(REDIS);
    await deleteKeysWithPrefix(r, prefix);
    r.disconnect();
  }
}

await main();
process.exit(0);
