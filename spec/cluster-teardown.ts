// jest globalTeardown: stops the Redis Cluster spec/cluster-setup.ts started, if it started one.
export default async function teardown(): Promise<void> {
  const cluster = globalThis.__HWAY_TEST_CLUSTER__;
  if (cluster === undefined) return;
  globalThis.__HWAY_TEST_CLUSTER__ = undefined;
  delete process.env.HWAY_TEST_REDIS_CLUSTER;
  await cluster.stop();
}
