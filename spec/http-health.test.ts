// /healthz and /readyz, each reason of a 503 produced for real and deterministically (no timing):
// - NOT_STARTED + ENCLAVE_NOT_LOADED: the endpoint is up from the start of start(); the enclave plugin
//   is a FIFO that the test holds closed, so the node waits in the plugin load until the test writes it;
// - LEASES_UNSETTLED: every partition is leased to a node that is not there (the leases outlive the
//   test unless deleted), so the node finishes its lease round holding none of its share; and a second
//   node joining a running one settles once the first has handed its share over;
// - REDIS_UNREACHABLE: a node on a redis-server of the test's own, killed (a scrape still answers,
//   with hway_redis_up 0) and restarted (ready again, one reconnect counted);
// - STOPPING: stop() while a task holds the drain open; the endpoint closes at the end of stop().
// The endpoint's own bounds (a PING, a scrape's reads) are hang-only here (spec/helpers/node.ts) except
// in the REDIS_UNREACHABLE test, where the bound is what ends a PING to a dead Redis.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../actors/ingress/keys.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { pinnedPlugin } from '../enclaves/wasm.js';
import { AofRedis } from './helpers/aof-redis.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { ON_CLUSTER, testCluster, testRedis } from './helpers/node.js';
import { freePort, quietLogger } from './fixtures/ingress-helpers.js';

const P = 4;
const clusters: Array<ReturnType<typeof testCluster>> = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of clusters) await c.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cluster(name: string): ReturnType<typeof testCluster> {
  const c = testCluster(name, P);
  clusters.push(c);
  return c;
}

interface Answer {
  status: number;
  body: { status: string; reasons?: Array<{ code: string; message: string }> };
}

async function get(url: string, path: string): Promise<Answer> {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const codes = (a: Answer): string[] => (a.body.reasons ?? []).map((r) => r.code).sort();
const readyz = (url: string): Promise<Answer> => get(url, '/readyz');
const isReady = async (url: string): Promise<boolean> => (await readyz(url)).status === 200;

async function metric(url: string, line: RegExp): Promise<number | undefined> {
  const m = line.exec(await (await fetch(`${url}/metrics`)).text());
  return m ? Number(m[1]) : undefined;
}

describe('/healthz and /readyz', () => {
  test('while the enclave loads: alive, not ready (NOT_STARTED, ENCLAVE_NOT_LOADED); then ready', async () => {
    const c = cluster('http-health-start');
    const dir = mkdtempSync(join(tmpdir(), 'hway-fifo-'));
    dirs.push(dir);
    const fifo = join(dir, 'vault.wasm');
    execFileSync('mkfifo', [fifo]);
    const real = pinnedPlugin('vault.wasm');
    // The port is chosen here: node.stats() (with the bound URL) answers only once the node is started.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const node = c.node({ http: { port }, enclavePlugin: { path: fifo, sha256: real.sha256 }, logger: quietLogger() });
    const starting = node.start();
    let fed = false;
    const feed = async (): Promise<void> => {
      if (fed) return;
      fed = true;
      await writeFile(fifo, readFileSync(real.path)); // the node's plugin read completes
    };
    try {
      await pollUntil(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 'the endpoint to answer');
      expect(await get(url, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
      // Before the node's preflight has connected, REDIS_UNREACHABLE is listed too ("the connection is
      // connecting"); once the node waits in the plugin load, exactly these two remain until the test feeds it.
      let waiting = await readyz(url);
      await pollUntil(async () => ((waiting = await readyz(url)), !codes(waiting).includes('REDIS_UNREACHABLE')), 'the node to be connected to Redis');
      expect(waiting.status).toBe(503);
      expect(waiting.body.status).toBe('unavailable');
      expect(codes(waiting)).toEqual(['ENCLAVE_NOT_LOADED', 'NOT_STARTED']);
      for (const r of waiting.body.reasons!) expect(r.message.length).toBeGreaterThan(0);
      // Scrapable while starting too.
      expect(await metric(url, /^hway_node_ready (\S+)$/m)).toBe(0);
      await feed();
      await starting;
    } finally {
      await feed().catch(() => undefined); // never leave the node's read (a thread-pool thread) blocked
      await starting.catch(() => undefined);
    }
    expect((await node.stats()).http).toEqual({ url });
    await pollUntil(() => isReady(url), 'the node to be ready');
    expect(await readyz(url)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await metric(url, /^hway_node_ready (\S+)$/m)).toBe(1);
  });

  test('a bound that is not a positive number of milliseconds: start() refuses it (E_BAD_INPUT)', async () => {
    const c = cluster('http-health-bounds');
    for (const http of [{ port: 0, readyPingMs: 0 }, { port: 0, scrapeReadMs: Number.NaN }]) {
      const node = c.node({ http, logger: quietLogger() });
      await expect(node.start()).rejects.toMatchObject({ code: 'E_BAD_INPUT', message: expect.stringMatching(/^http\.(readyPingMs|scrapeReadMs) must be a positive number/) });
    }
  });

  test('LEASES_UNSETTLED: every partition leased elsewhere; ready once they are free', async () => {
    const c = cluster('http-health-leases');
    const keys = new Keys(c.prefix);
    const r = testRedis();
    try {
      for (let p = 0; p < P; p++) await r.set(keys.lease(p), 'ghost-node|1', 'PX', HANG_MS);
      const node = c.node({ http: { port: 0 }, logger: quietLogger() });
      await node.start(); // its first lease round has completed: it found no free partition
      const url = (await node.stats()).http!.url;
      const a = await readyz(url);
      expect(a.status).toBe(503);
      expect(codes(a)).toEqual(['LEASES_UNSETTLED']);
      expect(a.body.reasons![0]!.message).toContain(`holds 0 of its share of ${P} partitions`);
      expect(await metric(url, /^hway_partitions_owned (\S+)$/m)).toBe(0);
      expect(await metric(url, /^hway_partitions_target (\S+)$/m)).toBe(P);
      for (let p = 0; p < P; p++) await r.del(keys.lease(p));
      await pollUntil(() => isReady(url), 'the node to take the freed partitions');
      expect(await metric(url, /^hway_partitions_owned (\S+)$/m)).toBe(P);
    } finally {
      await r.quit();
    }
  });

  test('a second node joining: both settle with their share, each on its own registry', async () => {
    const c = cluster('http-health-join');
    const first = c.node({ http: { port: 0 }, logger: quietLogger() });
    await first.start();
    const u1 = (await first.stats()).http!.url;
    await pollUntil(() => isReady(u1), 'the first node to be ready');
    const second = c.node({ http: { port: 0 }, logger: quietLogger() });
    await second.start();
    const u2 = (await second.stats()).http!.url;
    expect(u2).not.toBe(u1);
    await pollUntil(async () => (await isReady(u1)) && (await isReady(u2)), 'both nodes to settle');
    const owned = async (u: string): Promise<number> => (await metric(u, /^hway_partitions_owned (\S+)$/m)) ?? -1;
    await pollUntil(async () => (await owned(u1)) + (await owned(u2)) === P && (await owned(u2)) === P / 2, 'the partitions to be shared');
    expect(await metric(u1, new RegExp(`^hway_node_info\\{node="${first.nodeId}"\\} (\\S+)$`, 'm'))).toBe(1);
    expect(await metric(u2, new RegExp(`^hway_node_info\\{node="${second.nodeId}"\\} (\\S+)$`, 'm'))).toBe(1);
    expect(await metric(u2, new RegExp(`^hway_node_info\\{node="${first.nodeId}"\\} (\\S+)$`, 'm'))).toBeUndefined();
  });

  test('STOPPING while stop() drains a task; the endpoint closes with the node', async () => {
    const c = cluster('http-health-stop');
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let running = false;
    // shutdownMs hang-only: the drain waits for the gate, however long the test takes to look.
    const node: HwayNode = c.node({ http: { port: 0 }, shutdownMs: HANG_MS, logger: quietLogger() });
    node.registerTask('test:hold', { validate: (p) => p, handle: async () => ((running = true), await gate, { held: true }) });
    await node.start();
    const url = (await node.stats()).http!.url;
    const client = c.client();
    const done = client.call('test:hold', {});
    await pollUntil(() => running, 'the task to run');
    const stopping = node.stop();
    try {
      await pollUntil(async () => codes(await readyz(url)).includes('STOPPING'), 'readyz to say STOPPING');
      expect((await readyz(url)).status).toBe(503);
      expect((await get(url, '/healthz')).status).toBe(200);
    } finally {
      open();
    }
    await stopping;
    expect(await done).toEqual({ held: true });
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  (ON_CLUSTER ? test.skip : test)('REDIS_UNREACHABLE: its Redis killed, then restarted', async () => {
    const c = cluster('http-health-redis');
    const dir = mkdtempSync(join(tmpdir(), 'hway-redis-'));
    dirs.push(dir);
    const server = new AofRedis(await freePort(), dir);
    await server.start();
    try {
      // The product's bounds, not the helper's hang-only ones: a PING written just before the kill is
      // re-sent on reconnect, so only the bound ends it while Redis is away.
      const node = c.node({ redis: `redis://127.0.0.1:${server.port}`, http: { port: 0, readyPingMs: 500, scrapeReadMs: 2000 }, logger: quietLogger() });
      await node.start();
      const url = (await node.stats()).http!.url;
      await pollUntil(() => isReady(url), 'the node to be ready');
      await server.kill();
      await pollUntil(async () => codes(await readyz(url)).includes('REDIS_UNREACHABLE'), 'readyz to say REDIS_UNREACHABLE');
      const down = await readyz(url);
      expect(down.status).toBe(503);
      expect(down.body.reasons!.find((r) => r.code === 'REDIS_UNREACHABLE')!.message).toContain('within 500 ms');
      // A scrape answers while Redis is away (its reads are bounded) and says so.
      expect(await metric(url, /^hway_redis_up (\S+)$/m)).toBe(0);
      // Leases cannot be renewed without Redis: the node gives them up when they run out.
      await pollUntil(async () => ((await metric(url, /^hway_lease_renew_failures_total\{reason="expired"\} (\S+)$/m)) ?? 0) > 0, 'an expired lease to be counted');
      await server.start();
      await pollUntil(() => isReady(url), 'the node to be ready again');
      // Polled: a scrape's PING may pass its 2 s bound on a busy machine.
      await pollUntil(async () => (await metric(url, /^hway_redis_up (\S+)$/m)) === 1, 'a scrape to see Redis up');
      expect(await metric(url, /^hway_redis_reconnects_total (\S+)$/m)).toBeGreaterThanOrEqual(1);
      expect(await metric(url, /^hway_partitions_owned (\S+)$/m)).toBe(P);
      await node.stop();
    } finally {
      await server.kill();
    }
  });
});
