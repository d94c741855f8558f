// In-process nodes for tests: each test file gets its own key prefix (files run in parallel against
// one Redis), a fresh master key and a temporary data directory; `cleanup` removes all three. The Redis
// is the single one or, in the cluster pass, a Redis Cluster (see ./redis.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HwayClient } from '../../actors/client.js';
import { createNode, type NodeInternals as HwayNode, type NodeOptions } from '../../actors/node.js';
import { Keys } from '../../actors/ingress/keys.js';
import { partitionOf } from '../../actors/ingress/partition.js';
import { HANG_MS } from './deadlines.js';
import { deleteKeys, HANG_ONLY, REDIS, testRedis } from './redis.js';

export { HANG_ONLY, ON_CLUSTER, REDIS, redisEnv, testRedis } from './redis.js';

export interface TestCluster {
  prefix: string;
  masterKey: string;
  partitions: number;
  dirs: string[];
  node(opts?: NodeOptions): HwayNode;
  client(opts?: { token?: string; callTimeoutMs?: number }): HwayClient;
  /** The vault's partition and that partition's current fencing epoch (what its writes must carry). */
  fence(vaultId: string): Promise<{ partition: number; fence: number }>;
  cleanup(): Promise<void>;
}

export function testCluster(name: string, partitions = 8): TestCluster {
  const prefix = `hwt-${name}-${randomBytes(3).toString('hex')}`;
  const masterKey = `1:${randomBytes(32).toString('hex')}`;
  const nodes: HwayNode[] = [];
  const clients: HwayClient[] = [];
  const dirs: string[] = [];
  return {
    prefix,
    masterKey,
    partitions,
    dirs,
    node(opts: NodeOptions = {}) {
      const dataDir = mkdtempSync(join(tmpdir(), 'hway-node-'));
      dirs.push(dataDir);
      // The enclave's per-call timeout is hang-only unless a test sets one (an Argon2id export is
      // seconds of CPU, many more on a busy machine: ordinary work, see ./enclave.ts openEnclave).
      // Auth is off unless the test brings a secret (or its own check): the suites about auth do.
      const insecure = opts.tokenSecret === undefined && opts.authorize === undefined && opts.tokenSecretFile === undefined;
      // The HTTP endpoint's reads of Redis and of the node (a /readyz PING, a scrape) are ordinary work
      // too: hang-only unless the test sets them (a busy machine takes more than 500 ms for a PING).
      const http = opts.http && { readyPingMs: HANG_MS, scrapeReadMs: HANG_MS, ...opts.http };
      const n = createNode({ redis: REDIS, prefix, partitions, dataDir, masterKeys: masterKey, leaseMs: 1500, enclaveTimeoutMs: HANG_MS, insecure, ...opts, ...(http ? { http } : {}) });
      nodes.push(n);
      return n;
    },
    client(opts = {}) {
      // Waiting for a task's result (and for Redis) is ordinary work: the client gives up only after a hang-only wait.
      const c = new HwayClient({ redis: REDIS, prefix, partitions, callTimeoutMs: HANG_MS, ...HANG_ONLY, ...opts });
      clients.push(c);
      return c;
    },
    async fence(vaultId: string) {
      const partition = partitionOf(vaultId, partitions);
      const r = testRedis();
      try {
        return { partition, fence: Number(await r.get(new Keys(prefix).epoch(partition))) };
      } finally {
        await r.quit();
      }
    },
    async cleanup() {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(nodes.map((n) => n.stop()));
      const r = testRedis();
      await deleteKeys(r, prefix);
      await r.quit();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
