// `hway cluster --nodes 2`: two child nodes sharing one master key (created 0600 in the base dir)
// and one token secret (here from HWAY_TOKEN_SECRET, handed over in a private file: neither secret
// is in a child's arguments or environment), each with its own data dir, output prefixed [node-i];
// they split the partitions; a vault exported on one node imports on the other (IPFS mesh), with
// auth on; SIGTERM stops both gracefully and the command exits 0.
import { afterAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { partitionOf } from '../actors/ingress/index.js';
import { hway, hwayLongRunning, stopLongRunning, WAIT, type LongRunning } from './helpers/cli.js';
import { pollUntil } from './helpers/deadlines.js';
import { REDIS } from './helpers/node.js';

const prefix = `hwt-cli-cluster-${randomBytes(3).toString('hex')}`;
const P = 8;
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-cluster-'));
const O = ['--prefix', prefix, '--partitions', String(P), '--json'];
let proc: LongRunning | undefined;

afterAll(async () => {
  // SIGTERM (SIGKILL only after the hang-only wait): a SIGKILLed `hway cluster` cannot stop its nodes,
  // which would outlive the test after a failure.
  await stopLongRunning(proc, 'SIGTERM');
  const redis = new Redis(REDIS);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

type Owners = Array<{ partition: number; owner: string | null }>;

/** Two vault ids whose partitions are owned by different nodes. */
function idsOnDifferentNodes(owners: Owners): [string, string] {
  const a = 'c-a';
  const ownerA = owners[partitionOf(a, P)]!.owner;
  for (let i = 0; ; i++) if (owners[partitionOf(`c-b${i}`, P)]!.owner !== ownerA) return [a, `c-b${i}`];
}

test('two nodes: partitions split, export on one imports anywhere, SIGTERM stops both (exit 0)', async () => {
  const base = join(dir, 'c');
  const secret = randomBytes(32).toString('hex');
  const env = { HWAY_TOKEN_SECRET: secret };
  const allReady = (out: string): boolean => (out.match(/"ready":true/g) ?? []).length === 2;
  proc = await hwayLongRunning(['cluster', '--nodes', '2', '--prefix', prefix, '--partitions', String(P), '--data-dir', base], allReady, { env });
  expect(proc.stdout()).toMatch(/^\[node-1\] \{"ready":true/m);
  expect(proc.stdout()).toMatch(/^\[node-2\] \{"ready":true/m);
  expect(statSync(join(base, 'master.key')).mode & 0o777).toBe(0o600);
  expect(existsSync(join(base, 'node-1', 'master.key'))).toBe(false); // one shared key, not one each
  expect(existsSync(join(base, 'node-2', 'ipfs'))).toBe(true);

  // Files, not secrets: the children's arguments and environment hold neither the token secret nor
  // the master key, and the private copy of the secret is gone once both nodes read it.
  const masterKey = readFileSync(join(base, 'master.key'), 'utf8').trim().slice(2);
  // The nodes among the command's children (tsx has a helper process of its own).
  const kids = execFileSync('pgrep', ['-P', String(proc.proc.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('start'));
  expect(kids).toHaveLength(2);
  for (const pid of kids) {
    const seen = readFileSync(`/proc/${pid}/cmdline`, 'utf8') + readFileSync(`/proc/${pid}/environ`, 'utf8');
    expect(seen).toContain('--token-secret-file');
    expect(seen).not.toContain(secret);
    expect(seen).not.toContain(masterKey);
    expect(seen).not.toContain('HWAY_TOKEN_SECRET');
  }
  await pollUntil(() => readdirSync(base).every((f) => !f.startsWith('.handover-')), 'the handed-over secret file to be removed');
  expect(existsSync(join(base, 'token.secret'))).toBe(false); // the environment's secret was used

  // Auth is on: the operator issues a token with the same secret; without one, a producer is refused.
  const refused = await hway(['vault', 'generate', 'c-refused', ...O, ...WAIT]);
  expect((refused.json as { error: { code: string } }).error.code).toBe('E_UNAUTHORIZED');
  const issued = await hway<{ token: string }>(['token', 'issue', '--account', 'acme', '--perm', 'admin', ...O], { env });
  expect(issued.code).toBe(0);
  const asAcme = { env: { HWAY_TOKEN: issued.json.token } };

  // Rebalancing converges on 4 + 4 (within a few lease periods; polled for as long as it takes).
  let nodes: Array<{ id: string; partitions: number }> = [];
  let owners: Owners = [];
  await pollUntil(async () => {
    const st = (await hway<{ nodes: Array<{ id: string; partitions: number }>; partitions: Owners }>(['status', ...O])).json;
    nodes = st.nodes;
    owners = st.partitions;
    return nodes.length === 2 && nodes.every((n) => n.partitions === P / 2);
  }, 'the partitions to split 4 + 4', { intervalMs: 250 });
  expect(nodes.map((n) => [n.id, n.partitions]).sort()).toEqual([['node-1', 4], ['node-2', 4]]);

  const [a, b] = idsOnDifferentNodes(owners); // exported on one node, imported on the other
  const gen = await hway<{ publicKey: string }>(['vault', 'generate', a, ...O, ...WAIT], asAcme);
  expect(gen.code).toBe(0);
  const exp = await hway<{ cid: string }>(['vault', 'export', a, ...O, ...WAIT], { input: 'cluster password', ...asAcme });
  expect(exp.code).toBe(0);
  const imp = await hway<{ publicKey: string }>(['vault', 'import', exp.json.cid, b, ...O, ...WAIT], { input: 'cluster password', ...asAcme });
  expect([imp.code, imp.json.publicKey]).toEqual([0, gen.json.publicKey]);

  expect(await stopLongRunning(proc, 'SIGTERM')).toBe(0);
  expect(proc.stderr()).toMatch(/^\[node-1\] hway: SIGTERM: stopping node node-1/m);
  expect(proc.stderr()).toMatch(/^\[node-2\] hway: SIGTERM: stopping node node-2/m);
  expect(proc.stderr()).toContain('hway: all 2 node(s) stopped');
});
