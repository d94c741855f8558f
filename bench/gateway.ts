// Gateway benchmark: walletSign through the gateway to an external wallet process (a child process
// holding a real key), next to the same wallet asked directly over its own Redis channel, in the same
// run, and next to a bare relay that makes the gateway's Redis hops and nothing else (the floor this
// design puts under the gateway's overhead). Latency (sequential, interleaved in blocks so that all
// three see the same machine state) and throughput (concurrent chains). Reports the gateway's overhead
// at p50, how much of it the relay's hops account for, and ratios to the baseline.
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

/** The wallet's connection, and its frame key when auth is on. */
interface WalletConn {
  connId: string;
  fk: Uint8Array | undefined;
}

/** One raw sign frame to the wallet, sealed as it requires, to be answered on `reply`. */
function sendSign(pub: Redis, w: WalletConn, id: string, reply: string, bytes: string): void {
  const frame = { t: 'sign', id, reply, address, bytes, meta: { type: 'raw' }, deadline: Date.now() + 20_000 } as const;
  void pub.spublish(keys.toConn(w.connId), walletWire(w.connId, frame, w.fk));
}

/** Answers ({ id, ok }) awaited by id on one subscribed connection. */
class Answers {
  private readonly waiting = new Map<string, (ok: boolean) => void>();
  constructor(sub: Redis) {
    sub.on('message', (_c: string, m: string) => {
      const r = JSON.parse(m) as { id: string; ok: boolean };
      this.waiting.get(r.id)?.(r.ok);
      this.waiting.delete(r.id);
    });
  }
  expect(id: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => this.waiting.set(id, resolve));
  }
}

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
  private readonly answers = new Answers(this.sub);
  constructor(private readonly wallet: WalletConn) {}
  async open(): Promise<void> {
    await this.sub.subscribe(this.channel);
  }
  sign(digest: Uint8Array): Promise<boolean> {
    const id = randomUUID();
    const p = this.answers.expect(id);
    sendSign(this.pub, this.wallet, id, this.channel, Buffer.from(digest).toString('hex'));
    return p;
  }
  close(): void {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}

/**
 * The gateway's Redis hops with none of its work: the producer's RPUSH, popped by BLMPOP; the same
 * SPUBLISH to the wallet as Direct, its answer on the relay's channel; a PUBLISH back to the producer.
 * No tokens, MACs, limits, routing, actors or signature check (so its request frames are also smaller:
 * no JWT). Its overhead over Direct is what any node between a producer and a wallet costs here; the
 * gateway's overhead beyond it is its own work.
 */
class Relay {
  private readonly popper = new Redis(REDIS);
  private readonly pub = new Redis(REDIS, { enableAutoPipelining: true });
  private readonly sub = new Redis(REDIS);
  private readonly producer = new Redis(REDIS, { enableAutoPipelining: true });
  private readonly producerSub = new Redis(REDIS);
  private readonly list = `${prefix}:bench:relay:requests`;
  private readonly toRelay = `${prefix}:bench:relay:${randomUUID()}`;
  private readonly toProducer = `${prefix}:bench:relay-producer:${randomUUID()}`;
  private readonly answers = new Answers(this.producerSub);
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  constructor(private readonly wallet: WalletConn) {}
  async open(): Promise<void> {
    // The relay's side: the wallet's answers are passed on to the producer as they come.
    this.sub.on('message', (_c: string, m: string) => {
      const r = JSON.parse(m) as { id: string; ok: boolean };
      void this.pub.publish(this.toProducer, JSON.stringify({ id: r.id, ok: r.ok }));
    });
    await Promise.all([this.sub.subscribe(this.toRelay), this.producerSub.subscribe(this.toProducer)]);
    this.loop = this.pop();
  }
  /** As the gateway's request loop: up to 64 requests per BLMPOP, each sent on at once. */
  private async pop(): Promise<void> {
    while (this.running) {
      const res = await this.popper.call('BLMPOP', 1, 1, this.list, 'LEFT', 'COUNT', 64).catch(() => null);
      if (!Array.isArray(res)) continue;
      for (const raw of (res as [string, string[]])[1]) {
        const { id, bytes } = JSON.parse(raw) as { id: string; bytes: string };
        sendSign(this.pub, this.wallet, id, this.toRelay, bytes);
      }
    }
  }
  sign(digest: Uint8Array): Promise<boolean> {
    const id = randomUUID();
    const p = this.answers.expect(id);
    void this.producer.rpush(this.list, JSON.stringify({ id, bytes: Buffer.from(digest).toString('hex') }));
    return p;
  }
  async close(): Promise<void> {
    this.running = false;
    this.popper.disconnect();
    await this.loop;
    for (const c of [this.pub, this.sub, this.producer, this.producerSub]) c.disconnect();
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
  const direct = new Direct({ connId, fk });
  await direct.open();
  const relay = new Relay({ connId, fk });
  await relay.open();
  const digest = randomBytes(32);
  const viaGateway = async (): Promise<void> => {
    await client.walletSign(address, digest, { type: 'raw' });
  };
  const viaDirect = async (): Promise<void> => {
    if (!(await direct.sign(digest))) throw new Error('direct sign failed');
  };
  const viaRelay = async (): Promise<void> => {
    if (!(await relay.sign(digest))) throw new Error('relayed sign failed');
  };
  const paths = [['direct', viaDirect], ['relay', viaRelay], ['gateway', viaGateway]] as const;

  try {
    log(`warming up (auth ${AUTH ? 'on' : 'off'}, verifier ${VERIFIER}) …`);
    for (let i = 0; i < 300; i++) for (const [, f] of paths) await f();
    log(`latency: ${N} sequential signs each, interleaved in blocks of 100 …`);
    const lat = { direct: [] as number[], relay: [] as number[], gateway: [] as number[] };
    // This process's CPU (all its threads) per sign on each path. With the node in-process, the
    // gateway's row holds the node's work and the producer's; the relay's, the relay's and the producer's.
    const cpuUs = { direct: 0, relay: 0, gateway: 0 };
    for (let done = 0; done < N; done += 100) {
      for (const [name, f] of paths) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < Math.min(100, N - done); i++) {
          const t = performance.now();
          await f();
          lat[name].push(performance.now() - t);
        }
        const c = process.cpuUsage(c0);
        cpuUs[name] += c.user + c.system;
      }
    }
    const cpuPerSign = (name: keyof typeof cpuUs): number => Math.round(cpuUs[name] / lat[name].length);
    for (const l of Object.values(lat)) l.sort((a, b) => a - b);
    log(`throughput: ${CONC} concurrent chains for ${SECONDS} s each …`);
    const tpDirect = await throughput(viaDirect, SECONDS * 1000, CONC);
    const tpRelay = await throughput(viaRelay, SECONDS * 1000, CONC);
    const tpGateway = await throughput(viaGateway, SECONDS * 1000, CONC);

    const stat = (l: number[]): { p50: number; p99: number } => ({ p50: percentile(l, 50), p99: percentile(l, 99) });
    const d = stat(lat.direct);
    const rl = stat(lat.relay);
    const g = stat(lat.gateway);
    const result = {
      bench: 'gateway',
      n: N,
      concurrency: CONC,
      auth: AUTH,
      verifier: VERIFIER,
      node: NODE_PROCESS ? 'own process' : 'in the benchmark process',
      direct: { p50Ms: +d.p50.toFixed(3), p99Ms: +d.p99.toFixed(3), opsPerSec: Math.round(tpDirect), cpuUsPerSign: cpuPerSign('direct') },
      relay: { p50Ms: +rl.p50.toFixed(3), p99Ms: +rl.p99.toFixed(3), opsPerSec: Math.round(tpRelay), cpuUsPerSign: cpuPerSign('relay') },
      gateway: { p50Ms: +g.p50.toFixed(3), p99Ms: +g.p99.toFixed(3), opsPerSec: Math.round(tpGateway), cpuUsPerSign: cpuPerSign('gateway') },
      overheadP50Ms: +(g.p50 - d.p50).toFixed(3),
      /** What the relay's Redis hops alone add at p50: the design's floor under the overhead. */
      hopsP50Ms: +(rl.p50 - d.p50).toFixed(3),
      /** The gateway's own work at p50: its overhead beyond the relay's. */
      ownWorkP50Ms: +(g.p50 - rl.p50).toFixed(3),
      overheadP99Ms: +(g.p99 - d.p99).toFixed(3),
      ratios: { p50: +(g.p50 / d.p50).toFixed(2), p99: +(g.p99 / d.p99).toFixed(2), throughput: +(tpGateway / tpDirect).toFixed(2), relayP50: +(rl.p50 / d.p50).toFixed(2), relayThroughput: +(tpRelay / tpDirect).toFixed(2) },
      targetOverheadP50Ms: TARGET_MS,
      meetsTarget: g.p50 - d.p50 <= TARGET_MS,
    };
    if (wantsJson()) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const rows: Row[] = [
        { path: 'direct to wallet (baseline)', 'p50 ms': d.p50, 'p99 ms': d.p99, 'signs/s': Math.round(tpDirect), 'p50 ratio': 1, 'tput ratio': 1, 'CPU µs/sign': result.direct.cpuUsPerSign },
        { path: 'bare relay (the hops only)', 'p50 ms': rl.p50, 'p99 ms': rl.p99, 'signs/s': Math.round(tpRelay), 'p50 ratio': result.ratios.relayP50, 'tput ratio': result.ratios.relayThroughput, 'CPU µs/sign': result.relay.cpuUsPerSign },
        { path: 'through the gateway', 'p50 ms': g.p50, 'p99 ms': g.p99, 'signs/s': Math.round(tpGateway), 'p50 ratio': result.ratios.p50, 'tput ratio': result.ratios.throughput, 'CPU µs/sign': result.gateway.cpuUsPerSign },
      ];
      process.stdout.write(`${table(`walletSign (raw, 32-byte digest), ${N} sequential + ${CONC} concurrent for ${SECONDS} s; auth ${AUTH ? 'on' : 'off'}, verifier ${VERIFIER}, node ${NODE_PROCESS ? 'in its own process' : 'in-process'}`, rows)}\n`);
      process.stdout.write(`gateway overhead at p50: ${fmt(result.overheadP50Ms, 3)} ms (target ≤ ${TARGET_MS} ms: ${result.meetsTarget ? 'met' : 'NOT met'}); at p99: ${fmt(result.overheadP99Ms, 3)} ms\n`);
      process.stdout.write(`CPU µs/sign: this process's threads during the sequential runs${NODE_PROCESS ? ' (the node runs in its own process: not counted)' : ' (the node runs here: its work is in the gateway row)'}\n`);
      process.stdout.write(`of it at p50: the relay's Redis hops ${fmt(result.hopsP50Ms, 3)} ms, the gateway's own work ${fmt(result.ownWorkP50Ms, 3)} ms\n`);
    }
  } finally {
    direct.close();
    await relay.close();
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
