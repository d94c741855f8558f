// `--redis-cluster HOST:PORT[,…]` (env HWAY_REDIS_CLUSTER) on every command that takes `--redis`, and
// the Redis preflight of `hway start` / `hway cluster`: a Redis configuration that cannot work is
// refused before the node starts, with exactly one line on stderr and exit 3 —
//   unreachable seeds (each named, E_REDIS_UNAVAILABLE), a cluster that is down (a master killed,
//   survivors at cluster_state:fail: E_REDIS_UNAVAILABLE), a cluster whose slots are not assigned
//   (cluster-enabled nodes never joined: E_REDIS_MISCONFIGURED), --redis pointed at a cluster node and
//   --redis-cluster pointed at a single Redis (E_REDIS_MISCONFIGURED), and keys that span slots
//   (CROSSSLOT from the script probe: E_REDIS_MISCONFIGURED).
// Usage errors (exit 2, E_BAD_INPUT): --redis with --redis-cluster, both variables set, a bad seed, a
// --prefix with braces (it would change the keys' hash tags). And the positive case: `hway start
// --redis-cluster` against a healthy local cluster gets past the preflight, and `hway status
// --redis-cluster` reads the cluster.
// Real processes throughout: local redis-server clusters (spec/helpers/redis-cluster.ts), the hway
// binary. Waits poll for states and are hang-only (spec/helpers/deadlines.ts).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HwayError } from '../errors.js';
import { closeConnection, connect } from '../storage/redis.js';
import { preflight, probeKeys, redisSourceFrom } from '../storage/redis-preflight.js';
import { cliEnv, closedPort, hway, HWAY, ROOT, type CliError, type CliResult } from './helpers/cli.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { startCluster, tryAsk, type LocalCluster } from './helpers/redis-cluster.js';
import { REDIS_URL } from './helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'hway-cli-rc-'));
const prefix = `hwt-cli-rc-${randomBytes(3).toString('hex')}`;
const P = 4;

/** A cluster-enabled redis-server that never joined a cluster: no slot is assigned. */
interface LoneNode {
  port: number;
  stop(): Promise<void>;
}

async function startLoneNode(): Promise<LoneNode> {
  const port = await closedPort();
  const nodeDir = mkdtempSync(join(dir, 'lone-'));
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf'), '--save', '', '--appendonly', 'no', '--dir', nodeDir],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', () => r())));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  try {
    await pollUntil(async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${proc.exitCode}`);
      return (await tryAsk(port, 'PING')) === 'PONG';
    }, `the lone cluster-enabled redis-server on port ${port} to answer`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, stop };
}

let healthy: LocalCluster | undefined;
let down: LocalCluster | undefined;
let lone: LoneNode | undefined;
let killed = 0;

beforeAll(async () => {
  const [h, d, l] = await Promise.allSettled([startCluster({ masters: 3, replicas: 0 }), startCluster({ masters: 3, replicas: 0, nodeTimeoutMs: 1000 }), startLoneNode()]);
  healthy = h.status === 'fulfilled' ? h.value : undefined;
  down = d.status === 'fulfilled' ? d.value : undefined;
  lone = l.status === 'fulfilled' ? l.value : undefined;
  for (const r of [h, d, l]) if (r.status === 'rejected') throw r.reason;
  // A master of `down` dies without a replica: once the survivors notice, the cluster is down.
  killed = (await down!.masters())[0]!;
  await down!.killMaster(killed);
  const survivors = down!.ports.filter((p) => p !== killed);
  await pollUntil(async () => {
    for (const p of survivors) if (!/^cluster_state:fail\b/m.test((await tryAsk(p, 'CLUSTER', 'INFO')) ?? '')) return false;
    return true;
  }, `the survivors of a killed master (${killed}) to say cluster_state:fail`, { intervalMs: 100 });
});

afterAll(async () => {
  await Promise.all([healthy?.stop(), down?.stop(), lone?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI contract for a refusal: exit code, nothing on stdout, one "hway: … [CODE]" line on stderr. */
function expectOneLine(r: CliResult<CliError>, exit: number, code: string, text: RegExp): void {
  expect({ exit: r.code, stdout: r.stdout }).toEqual({ exit, stdout: '' });
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^hway: .+ \\[${code}\\]$`));
  expect(lines[0]).toMatch(text);
}

/** Human and --json runs of one command line: the same exit code, and the code in the JSON error. */
async function both(args: string[], exit: number, code: string, text: RegExp, env: Record<string, string> = {}): Promise<void> {
  const [human, json] = await Promise.all([hway(args, { env }), hway([...args, '--json'], { env })]);
  expectOneLine(human, exit, code, text);
  expect({ exit: json.code, code: json.json?.error?.code }).toEqual({ exit, code });
  expect(json.stdout.trim().split('\n')).toHaveLength(1);
  expect(json.stderr.trimEnd().split('\n')).toHaveLength(1);
}

const start = (name: string, ...more: string[]): string[] => ['start', '--prefix', prefix, '--partitions', String(P), '--data-dir', join(dir, name), ...more];

describe('refused before the node starts: one line, exit 3', () => {
  test('unreachable seeds: every seed named with why (E_REDIS_UNAVAILABLE); no master key file', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const seeds = `127.0.0.1:${a},127.0.0.1:${b}`;
    const line = new RegExp(`cannot reach any seed of the Redis Cluster: 127\\.0\\.0\\.1:${a} \\(ECONNREFUSED\\), 127\\.0\\.0\\.1:${b} \\(ECONNREFUSED\\)`);
    await both(start('unreachable', '--redis-cluster', seeds), 3, 'E_REDIS_UNAVAILABLE', line);
    await both(['cluster', '--nodes', '2', '--redis-cluster', seeds, '--data-dir', join(dir, 'unreachable-c')], 3, 'E_REDIS_UNAVAILABLE', line);
    // From the environment too, and for a client command.
    await both(['status'], 3, 'E_REDIS_UNAVAILABLE', line, { HWAY_REDIS_CLUSTER: seeds });
    expect(existsSync(join(dir, 'unreachable', 'master.key'))).toBe(false);
    expect(existsSync(join(dir, 'unreachable-c', 'master.key'))).toBe(false);
  });

  test('a cluster that is down (a master killed, cluster_state:fail): E_REDIS_UNAVAILABLE', async () => {
    const line = /^hway: Redis Cluster at .+ is down: cluster_state:fail/;
    await both(start('down', '--redis-cluster', down!.seedList), 3, 'E_REDIS_UNAVAILABLE', line);
    await both(['cluster', '--nodes', '2', '--redis-cluster', down!.seedList, '--data-dir', join(dir, 'down-c')], 3, 'E_REDIS_UNAVAILABLE', line);
    expect(existsSync(join(dir, 'down', 'master.key'))).toBe(false);
  });

  test('cluster-enabled nodes that never formed a cluster (slots unassigned): E_REDIS_MISCONFIGURED', async () => {
    const seed = `127.0.0.1:${lone!.port}`;
    await both(start('lone', '--redis-cluster', seed), 3, 'E_REDIS_MISCONFIGURED', new RegExp(`Redis Cluster at ${seed} has 0 of 16384 hash slots assigned: create the cluster`));
  });

  test('--redis at a cluster node: "use --redis-cluster" (E_REDIS_MISCONFIGURED), for start and client commands', async () => {
    const port = healthy!.ports[0]!;
    const line = new RegExp(`Redis at 127\\.0\\.0\\.1:${port} is a Redis Cluster node: use --redis-cluster 127\\.0\\.0\\.1:${port} instead of --redis`);
    await both(start('at-node', '--redis', `redis://127.0.0.1:${port}`), 3, 'E_REDIS_MISCONFIGURED', line);
    await both(['status', '--redis', `redis://127.0.0.1:${port}`], 3, 'E_REDIS_MISCONFIGURED', line);
    await both(['cluster', '--nodes', '2', '--data-dir', join(dir, 'at-node-c')], 3, 'E_REDIS_MISCONFIGURED', line, { HWAY_REDIS: `redis://127.0.0.1:${port}` });
    // A cluster-enabled node outside any cluster is refused the same way.
    await both(start('at-lone', '--redis', `redis://127.0.0.1:${lone!.port}`), 3, 'E_REDIS_MISCONFIGURED', /is a Redis Cluster node: use --redis-cluster/);
    expect(existsSync(join(dir, 'at-node', 'master.key'))).toBe(false);
  });

  test('--redis-cluster at a single Redis: "not a cluster node" (E_REDIS_MISCONFIGURED)', async () => {
    const u = new URL(REDIS_URL);
    const seed = `${u.hostname}:${u.port || 6379}`;
    await both(start('single', '--redis-cluster', seed), 3, 'E_REDIS_MISCONFIGURED', new RegExp(`Redis at ${seed.replace(/\./g, '\\.')} is not a cluster node \\(cluster_enabled:0\\)`));
  });
});

describe('usage errors: one line, exit 2, E_BAD_INPUT, before Redis is asked', () => {
  test('--redis with --redis-cluster; both variables; a bad seed; a prefix with braces', async () => {
    const seeds = healthy!.seedList;
    await both(start('both', '--redis', REDIS_URL, '--redis-cluster', seeds), 2, 'E_BAD_INPUT', /--redis and --redis-cluster exclude each other/);
    await both(['status', '--redis-cluster', seeds, '--redis', REDIS_URL], 2, 'E_BAD_INPUT', /--redis and --redis-cluster exclude each other/);
    await both(['vault', 'generate', 'v1'], 2, 'E_BAD_INPUT', /both HWAY_REDIS and HWAY_REDIS_CLUSTER are set/, { HWAY_REDIS: REDIS_URL, HWAY_REDIS_CLUSTER: seeds });
    await both(['status', '--redis-cluster', '127.0.0.1'], 2, 'E_BAD_INPUT', /--redis-cluster: bad cluster seed "127\.0\.0\.1": expected HOST:PORT/);
    await both(['status', '--redis-cluster', ','], 2, 'E_BAD_INPUT', /--redis-cluster: no cluster seed given/);
    for (const bad of ['a{b}', 'a{}b', '}x']) {
      await both(['start', '--redis-cluster', seeds, '--prefix', bad, '--data-dir', join(dir, 'brace')], 2, 'E_BAD_INPUT', /--prefix: key prefix ".+" contains "\{" or "\}": that changes the keys' Redis Cluster hash tags/);
    }
    expect(existsSync(join(dir, 'brace'))).toBe(false);
  });

  test('a flag wins over the other kind\'s environment variable', async () => {
    // HWAY_REDIS_CLUSTER names a dead port; --redis names the working single Redis: status works.
    const dead = `127.0.0.1:${await closedPort()}`;
    const r = await hway<{ partitions: unknown[] }>(['status', '--redis', REDIS_URL, '--prefix', prefix, '--partitions', String(P), '--json'], { env: { HWAY_REDIS_CLUSTER: dead } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.json.partitions).toHaveLength(P);
  });

  test('--help of every command that takes --redis names --redis-cluster and HWAY_REDIS_CLUSTER', async () => {
    const cmds = ['start', 'cluster', 'status', 'dlq', 'vault', 'wallet', 'token', 'demo'];
    const [top, ...each] = await Promise.all([hway(['--help']), ...cmds.map((c) => hway([c, '--help']))]);
    expect(top.stdout).toContain('--redis-cluster HOST:PORT[,HOST:PORT…] (env HWAY_REDIS_CLUSTER');
    cmds.forEach((c, i) => {
      const r = each[i]!;
      expect({ c, code: r.code, flag: r.stdout.includes('--redis-cluster'), env: r.stdout.includes('HWAY_REDIS_CLUSTER') }).toEqual({ c, code: 0, flag: true, env: true });
    });
  });
});

describe('a healthy cluster', () => {
  test('hway start --redis-cluster gets past the preflight; hway status --redis-cluster reads the cluster', async () => {
    const proc = spawn(HWAY, start('ok', '--redis-cluster', healthy!.seedList, '--node-id', 'rc-1', '--json'), { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stdout!.resume();
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      // The line is printed after the preflight and before the node is created; whether the node then
      // becomes ready on a cluster is the subject of other tests.
      await pollUntil(() => err.includes('hway: preflight ok:') || proc.exitCode !== null, 'hway start to pass (or fail) its Redis preflight');
      expect(err).toMatch(new RegExp(`^hway: preflight ok: Redis Cluster ${healthy!.seedList.replace(/\./g, '\\.')} can serve prefix "${prefix}"$`, 'm'));
      expect(err).not.toMatch(/E_REDIS_(UNAVAILABLE|MISCONFIGURED)/);

      const st = await hway<{ partitions: Array<{ partition: number }>; queues: Record<string, unknown> }>(['status', '--redis-cluster', healthy!.seedList, '--prefix', prefix, '--partitions', String(P), '--json']);
      expect({ code: st.code, stderr: st.stderr }).toEqual({ code: 0, stderr: '' });
      expect(st.json.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    } finally {
      // Clean-up only: SIGKILL after a graceful attempt; nothing asserts on how it ended.
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (t = setTimeout(r, 10_000)))]);
      clearTimeout(t);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    }
  });

  test('preflight (library): passes on the cluster; CROSSSLOT and braces in the prefix get their own errors', async () => {
    const conn = connect({ cluster: healthy!.seeds }, { maxRetriesPerRequest: 0 });
    conn.on('error', () => undefined);
    try {
      await expect(preflight(conn, HANG_MS, { prefix })).resolves.toBeUndefined();
      // The node's probe keys share the slot of partition 0; two unrelated keys do not.
      expect(probeKeys(prefix).every((k) => k.startsWith(`${prefix}:{0}:`))).toBe(true);
      await expect(preflight(conn, HANG_MS, { prefix, keys: [`${prefix}:a`, `${prefix}:b`] })).rejects.toMatchObject({
        code: 'E_REDIS_MISCONFIGURED',
        message: expect.stringMatching(/span Redis Cluster slots \(CROSSSLOT\): the node's Lua scripts cannot run/),
      });
      await expect(preflight(conn, HANG_MS, { prefix: 'a{}b' })).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringContaining('hash tags') });
    } finally {
      await closeConnection(conn);
    }
  });

  test('the node\'s Redis source: option, else HWAY_REDIS_CLUSTER or HWAY_REDIS; both variables is E_BAD_INPUT', () => {
    const seeds = healthy!.seedList;
    expect(redisSourceFrom(undefined, { HWAY_REDIS_CLUSTER: seeds })).toEqual({ cluster: healthy!.seeds });
    expect(redisSourceFrom(undefined, { HWAY_REDIS: REDIS_URL })).toBe(REDIS_URL);
    expect(redisSourceFrom(undefined, {})).toBe('redis://127.0.0.1:6379');
    expect(redisSourceFrom('redis://x:1', { HWAY_REDIS: REDIS_URL, HWAY_REDIS_CLUSTER: seeds })).toBe('redis://x:1');
    expect(() => redisSourceFrom(undefined, { HWAY_REDIS: REDIS_URL, HWAY_REDIS_CLUSTER: seeds })).toThrow(HwayError);
    expect(() => redisSourceFrom(undefined, { HWAY_REDIS: REDIS_URL, HWAY_REDIS_CLUSTER: seeds })).toThrow(/both HWAY_REDIS and HWAY_REDIS_CLUSTER/);
  });
});
