// `hway dlq`: a task that failed permanently is listed with its error code; inspect shows its payload
// with the password masked; requeue runs it again (here it succeeds, once its vault exists); delete
// removes a dead letter; an id that is not a dead letter is E_NOT_FOUND.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import type { TaskOutcome } from '../actors/ingress/index.js';
import type { HwayClient } from '../actors/client.js';
import { hway, quietLogger } from './helpers/cli.js';
import { pollUntil } from './helpers/deadlines.js';
import { testCluster } from './helpers/node.js';

interface Dead {
  id: string;
  type: string;
  key: string;
  attempts: number;
  error: { code: string; message: string } | null;
  payload?: Record<string, unknown>;
}

const cluster = testCluster('cli-dlq');
const O = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json'];
let node: HwayNode;
let client: HwayClient;

beforeAll(async () => {
  node = cluster.node({ logger: quietLogger() });
  await node.start();
  client = cluster.client();
});
afterAll(() => cluster.cleanup());

/** The task's stored outcome, polled for as long as it takes (hang-only deadline). */
async function outcome(id: string, key: string, until: (o: TaskOutcome) => boolean = () => true): Promise<TaskOutcome> {
  let o: TaskOutcome | null = null;
  await pollUntil(async () => (o = await client.result(id, { key })) !== null && until(o), `the outcome of ${id}`, { intervalMs: 50 });
  return o!;
}

test('list, inspect (masked), requeue, delete', async () => {
  // Fails permanently: the vault does not exist yet.
  const signId = await client.enqueue('vault:sign', { vaultId: 'late', data: 'ab'.repeat(32), hash: 'none' }, { key: 'late' });
  // Fails permanently: a bad payload, carrying a password that must never be printed.
  const exportId = await client.enqueue('vault:export', { vaultId: 'bad id', password: 'hunter2-do-not-print' }, { key: 'bad id' });
  expect(await outcome(signId, 'late')).toMatchObject({ ok: false, error: { code: 'E_UNKNOWN_VAULT' } });
  expect(await outcome(exportId, 'bad id')).toMatchObject({ ok: false, error: { code: 'E_BAD_PAYLOAD' } });

  const list = await hway<{ deadLetters: Dead[]; count: number }>(['dlq', 'list', ...O]);
  expect(list.code).toBe(0);
  expect(list.json.count).toBe(2);
  const byId = new Map(list.json.deadLetters.map((d) => [d.id, d]));
  expect(byId.get(signId)).toMatchObject({ type: 'vault:sign', key: 'late', attempts: 1, error: { code: 'E_UNKNOWN_VAULT' } });
  expect(byId.get(exportId)).toMatchObject({ type: 'vault:export', error: { code: 'E_BAD_PAYLOAD' } });
  const limited = await hway<{ deadLetters: Dead[] }>(['dlq', 'list', '--limit', '1', ...O]);
  expect(limited.json.deadLetters).toHaveLength(1);

  const insp = await hway<Dead>(['dlq', 'inspect', exportId, ...O]);
  const inspHuman = await hway(['dlq', 'inspect', exportId, '--prefix', cluster.prefix, '--partitions', String(cluster.partitions)]);
  expect(insp.code).toBe(0);
  expect(insp.json.payload).toEqual({ vaultId: 'bad id', password: '[masked]' });
  for (const r of [insp, inspHuman]) expect(r.stdout + r.stderr).not.toContain('hunter2');

  // Fix the cause, requeue: the task runs again and succeeds.
  const v = await client.vault.generate('late');
  const req = await hway(['dlq', 'requeue', signId, ...O]);
  expect([req.code, req.json]).toEqual([0, { id: signId, requeued: true }]);
  const o = await outcome(signId, 'late', (x) => x.ok);
  expect(o).toMatchObject({ ok: true, value: { signature: expect.stringMatching(/^[0-9a-f]{128}$/) } });
  expect(v.publicKey).toMatch(/^0[23]/);

  const del = await hway(['dlq', 'delete', exportId, ...O]);
  expect([del.code, del.json]).toEqual([0, { id: exportId, deleted: true }]);
  const after = await hway<{ deadLetters: Dead[]; count: number }>(['dlq', 'list', ...O]);
  expect(after.json.count).toBe(0);
  const again = await hway(['dlq', 'delete', exportId, ...O]);
  expect(again.code).toBe(1);
  expect(again.json.error.code).toBe('E_NOT_FOUND');
});
