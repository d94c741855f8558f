// jest globalSetup. With HWAY_TEST_CLUSTER=1, one local Redis Cluster (3 masters, 3 replicas) serves the
// whole run: its seeds go into HWAY_TEST_REDIS_CLUSTER, which the test workers (started after this,
// with this process's environment) read through spec/helpers/redis.ts. With HWAY_TEST_REDIS_CLUSTER
// already set (an external cluster) nothing is started; without either, the run uses the single Redis.
import type { LocalCluster } from './helpers/redis-cluster.js';

declare global {
  // Handed to spec/cluster-teardown.ts (globalSetup and globalTeardown share the global object).
  var __HWAY_TEST_CLUSTER__: LocalCluster | undefined;
}

export default async function setup(): Promise<void> {
  if (process.env.HWAY_TEST_REDIS_CLUSTER?.trim()) return;
  if (process.env.HWAY_TEST_CLUSTER !== '1') return;
  const t0 = Date.now();
  // jest loads this file outside its module system (no moduleNameMapper for the '.js' specifiers of our
  // TypeScript sources), so the helper is loaded through tsx, as the fixture processes are.
  const { tsImport } = await import('tsx/esm/api');
  const { startCluster } = (await tsImport('./helpers/redis-cluster.ts', import.meta.url)) as typeof import('./helpers/redis-cluster.js');
  // Nothing in this pass kills a node: a long node timeout keeps a busy machine (a node answering the
  // cluster bus late) from being taken for a failed master and failed over in the middle of the run.
  const cluster = await startCluster({ nodeTimeoutMs: 15_000 });
  globalThis.__HWAY_TEST_CLUSTER__ = cluster;
  process.env.HWAY_TEST_REDIS_CLUSTER = cluster.seedList;
  process.stderr.write(`\nRedis Cluster for this run: ${cluster.seedList} (masters ${(await cluster.masters()).join(',')}; up in ${Date.now() - t0} ms)\n`);
}
