// One Highway node in its own process, for bench/scale-out.ts: several of them share one Redis (or one
// Redis Cluster) and one master key, as the processes of a real cluster do. The set-up comes as one
// JSON argument (SignNodeSetup); prints "ready" on stdout once the node runs, and stops on SIGTERM.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../actors/node.js';
import type { RedisSource } from '../storage/redis.js';

export interface SignNodeSetup {
  redis: RedisSource;
  prefix: string;
  nodeId: string;
  /** `ID:HEX`: the same for every node, so that each opens the vaults another generated. */
  masterKeys: string;
  concurrency: number;
}

const setup = JSON.parse(process.argv[2]!) as SignNodeSetup;
const dataDir = mkdtempSync(join(tmpdir(), 'hway-bench-node-'));
const node = createNode({ redis: setup.redis, prefix: setup.prefix, nodeId: setup.nodeId, dataDir, masterKeys: setup.masterKeys, concurrency: setup.concurrency, insecure: true });
await node.start();
process.once('SIGTERM', () => {
  void node
    .stop()
    .finally(() => rmSync(dataDir, { recursive: true, force: true }))
    .finally(() => process.exit(0));
});
process.stdout.write('ready\n');
