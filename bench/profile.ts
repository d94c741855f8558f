// Where a sign's time goes: runs the sign pipeline (the node in this process, the producer in its own,
// as bench/pipeline.ts) for --seconds at --concurrency after a warm-up, with V8's sampling profiler on
// for the measured part only, and Redis's INFO commandstats reset just before it. Prints the top
// self-time frames as µs of the node's CPU per sign, and each Redis command as calls and µs of
// Redis CPU per sign. The figures the performance work keeps in bench/README.md come from here.
//   npm run bench:profile [-- --seconds S] [--concurrency C] [--keys N] [--rate R] [--top N] [--no-auth] [--json] [--out F.cpuprofile]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { TokenService } from '../actors/gateway/tokens.js';
import { createNode } from '../actors/node.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { ProducerProcess } from './producer-process.js';
import { fmt, numArg, table, wantsJson } from './report.js';

const REDIS = process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379';
const SECONDS = numArg('seconds', 6);
const CONC = numArg('concurrency', 50);
const TOP = numArg('top', 20);
/** Vaults the producer signs with in turn: all of them stay active (a supervisor with that many children). */
const KEYS = numArg('keys', 64);
/** An open loop at this many signs/s instead of the closed loop (where the time goes below the peak). */
const RATE = numArg('rate', 0);
const AUTH = !process.argv.includes('--no-auth');
const outIdx = process.argv.indexOf('--out');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time by frame (function, file, line), µs. */
function selfTimes(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const cf = byId.get(id)!.callFrame;
    const file = cf.url.replace(/^.*node_modules\//, '').replace(/^.*?\/(actors|storage|enclaves|bench)\//, '$1/').replace(/^file:\/\//, '');
    const k = `${cf.functionName || '(anonymous)'} ${file ? `${file}:${cf.lineNumber + 1}` : ''}`.trim();
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return out;
}

const prefix = `hwb-prof-${randomBytes(3).toString('hex')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'hway-prof-'));
const tokenSecret = randomBytes(32).toString('hex');
const limits = { token: { rate: 1e9, burst: 1e9 }, account: { rate: 1e9, burst: 1e9 } };
const node = createNode({ redis: REDIS, prefix, dataDir, masterKeys: `1:${randomBytes(32).toString('hex')}`, concurrency: CONC, ...(AUTH ? { tokenSecret, gateway: { rateLimits: limits } } : { insecure: true }) });
await node.start();
let token: string | undefined;
if (AUTH) {
  const issuer = new TokenService({ redis: REDIS, secret: tokenSecret, prefix, subscribe: false });
  token = (await issuer.issue({ account: 'bench', perm: 'admin', ttlSec: 3600 })).token;
  await issuer.close();
}
const admin = new Redis(REDIS);
// The producer runs in its own process (bench/sign-producer.ts), so the profile is the node's alone.
const producer = await ProducerProcess.start({ system: 'hway', redis: REDIS, prefix, keys: KEYS, ...(token === undefined ? {} : { token }) });
await producer.run({ phase: 'closed', inFlight: CONC * 2, ms: 2000 }); // warm-up: actors active, JIT warm

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await admin.config('RESETSTAT');
await session.post('Profiler.start');
const measured = await producer.run(RATE > 0 ? { phase: 'open', rate: RATE, ms: SECONDS * 1000 } : { phase: 'closed', inFlight: CONC * 2, ms: SECONDS * 1000 });
const signs = measured.n;
const secs = signs / measured.rate;
const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
const stats = (await admin.info('commandstats')) as string;
if (outIdx > 0) writeFileSync(process.argv[outIdx + 1]!, JSON.stringify(profile));

const frames = [...selfTimes(profile)].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
const redisRows = stats
  .split('\n')
  .map((l) => /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(l.trim()))
  .filter((m): m is RegExpExecArray => m !== null && !['config', 'info'].includes(m[1]!))
  .map((m) => ({ command: m[1]!, calls: Number(m[2]), usec: Number(m[3]) }))
  .sort((a, b) => b.usec - a.usec);
const summary = { auth: AUTH, concurrency: CONC, seconds: secs, signs, signsPerSec: signs / secs, cpuUsPerSign: measured.consumerCpuUs, producerCpuUsPerSign: measured.cpuUs, redisUsPerSign: redisRows.reduce((s, r) => s + r.usec, 0) / signs };

if (wantsJson()) {
  console.log(JSON.stringify({ ...summary, frames: frames.slice(0, TOP).map(([frame, us]) => ({ frame, usPerSign: us / signs })), redis: redisRows.map((r) => ({ ...r, callsPerSign: r.calls / signs, usPerSign: r.usec / signs })) }));
} else {
  console.log(`${fmt(summary.signsPerSec)} signs/s, auth ${AUTH ? 'on' : 'off'}, concurrency ${CONC}: ${fmt(summary.cpuUsPerSign)} µs of the node's CPU, ${fmt(summary.producerCpuUsPerSign)} µs of the producer's and ${fmt(summary.redisUsPerSign, 1)} µs of Redis CPU per sign\n`);
  console.log(table('top self-time frames (µs of CPU per sign)', frames.slice(0, TOP).map(([frame, us]) => ({ frame, 'µs/sign': fmt(us / signs, 1) }))));
  console.log('');
  console.log(table('Redis commands per sign', redisRows.map((r) => ({ command: r.command, 'calls/sign': fmt(r.calls / signs, 2), 'µs/sign': fmt(r.usec / signs, 1) }))));
}
await producer.stop();
await node.stop();
await deleteKeysWithPrefix(admin, prefix);
await admin.quit();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
