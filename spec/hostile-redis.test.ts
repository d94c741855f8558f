// Redis is untrusted (DESIGN.md, "Trust model"): with auth on, an attacker holding a raw connection to
// Redis tries each attack of issue 10 on the task path. Each is refused with a named error code, the
// victim vault is unchanged, and the node keeps serving its owner. (Rewriting a vault's account is
// attacked in spec/vault-account-seal.test.ts; forged gateway frames in spec/gateway-frame-auth.test.ts.)
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseCredential, signTask } from '../actors/credential.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { Keys } from '../actors/ingress/keys.js';
import { partitionOf } from '../actors/ingress/partition.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HwayClient } from '../actors/client.js';
import { defineScripts } from '../storage/scripts.js';
import { QueueStore, type NewTask } from '../storage/queue-store.js';
import { pollUntil } from './helpers/deadlines.js';
import { errorCode } from './helpers/errors.js';
import { REDIS, testCluster, testRedis } from './helpers/node.js';

const cluster = testCluster('hostile');
const keys = new Keys(cluster.prefix);
const secret = randomBytes(32).toString('hex');
const digest = createHash('sha256').update('pay 1 to mallory').digest();
const DAY_MS = 24 * 3600 * 1000;
let node: HwayNode;
let tokens: TokenService;
let attacker: Redis;
let store: QueueStore;
let aliceToken: string;
let alice: HwayClient;
let victim: { publicKey: string; epoch: number; version: number };

beforeAll(async () => {
  node = cluster.node({ tokenSecret: secret });
  await node.start();
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  aliceToken = (await tokens.issue({ account: 'alice', perm: 'admin', ttlSec: 3600 })).token;
  alice = cluster.client({ token: aliceToken });
  const v = await alice.vault.generate('victim');
  const info = await alice.vault.info('victim');
  victim = { publicKey: v.publicKey, epoch: info.epoch, version: info.version };
  attacker = testRedis();
  defineScripts(attacker);
  store = new QueueStore(attacker, keys, '');
});
afterAll(async () => {
  await attacker?.quit();
  await tokens?.close();
  await cluster.cleanup();
});

const signPayload = (vaultId: string, d: Uint8Array = digest): string => JSON.stringify({ vaultId, data: Buffer.from(d).toString('hex'), hash: 'none' });

/** What the attacker writes: a task record of its own making, enqueued with the ingress's script. */
function forged(t: Partial<NewTask> & { key: string; payload: string }): NewTask {
  return { id: randomUUID(), type: 'vault:sign', priority: 'default', maxRetries: 0, timeoutMs: 0, reply: '', delayMs: 0, auth: '', ...t };
}

/** Enqueue as the attacker and wait for the node's verdict, read from Redis. */
async function attack(t: NewTask): Promise<{ code: string; message: string }> {
  const p = partitionOf(t.key, cluster.partitions);
  await store.enqueue(p, [t]);
  let raw: string | null = null;
  await pollUntil(async () => (raw = await attacker.get(keys.result(p, t.id))) !== null, `the outcome of forged task ${t.id}`);
  const env = JSON.parse(raw!) as { ok: number; e?: { code: string; message: string } };
  expect(env.ok).toBe(0);
  return env.e!;
}

/** The auth field of a genuine request of alice's, captured while it waits in Redis (scheduled for later). */
async function capture(type: string, vaultId: string, payload: Record<string, unknown>): Promise<{ id: string; auth: string; p: number }> {
  const id = await alice.enqueue(type, payload, { key: vaultId, delayMs: DAY_MS });
  const p = partitionOf(vaultId, cluster.partitions);
  const auth = await attacker.hget(keys.task(p, id), 'auth');
  expect(auth).toMatch(/^1 \d+ [A-Za-z0-9_-]{43} ey/); // version, expiry, MAC, then the JWT only
  return { id, auth: auth!, p };
}

async function unscheduled(p: number, id: string): Promise<void> {
  await attacker.multi().zrem(keys.scheduled(p), id).del(keys.task(p, id), keys.result(p, id)).exec();
}

test('a sign enqueued without a MAC is refused', async () => {
  expect(await attack(forged({ key: 'victim', payload: signPayload('victim') }))).toMatchObject({ code: 'E_UNAUTHORIZED' });
  // Nor with alice's JWT (it is in Redis, on every task of hers) and a made-up MAC.
  const { id, auth, p } = await capture('vault:sign', 'victim', { vaultId: 'victim', data: digest.toString('hex'), hash: 'none' });
  await unscheduled(p, id);
  const jwt = auth.split(' ')[3]!;
  const made = `1 ${Date.now() + DAY_MS} ${randomBytes(32).toString('base64url')} ${jwt}`;
  expect(await attack(forged({ key: 'victim', payload: signPayload('victim'), auth: made }))).toMatchObject({ code: 'E_UNAUTHORIZED' });
});

test('a captured MAC does not carry over to another payload, another vault or another task id', async () => {
  const { id, auth, p } = await capture('vault:sign', 'victim', { vaultId: 'victim', data: digest.toString('hex'), hash: 'none' });
  const evil = createHash('sha256').update('pay 1000 to mallory').digest();
  // Another payload, under the captured task's own id (the genuine task removed first).
  await unscheduled(p, id);
  const r1 = await attack(forged({ id, key: 'victim', payload: signPayload('victim', evil), auth }));
  expect(r1.code).toBe('E_UNAUTHORIZED');
  expect(r1.message).toMatch(/MAC/);
  // Another vault of alice's.
  await alice.vault.generate('victim-2');
  await unscheduled(p, id);
  expect(await attack(forged({ id, key: 'victim-2', payload: signPayload('victim-2'), auth }))).toMatchObject({ code: 'E_UNAUTHORIZED' });
  // Another task id, everything else as captured.
  expect(await attack(forged({ key: 'victim', payload: signPayload('victim'), auth }))).toMatchObject({ code: 'E_UNAUTHORIZED' });
});

test('a request replayed after its expiry is refused', async () => {
  // A genuine MAC, made with alice's credential, whose request lifetime has passed.
  const cred = parseCredential(aliceToken);
  const t = forged({ key: 'victim', payload: signPayload('victim') });
  t.auth = signTask(cred, { id: t.id, type: t.type, key: t.key, payload: t.payload }, Date.now() - 1000);
  const r = await attack(t);
  expect(r.code).toBe('E_UNAUTHORIZED');
  expect(r.message).toMatch(/expired/);
  // The same request with a lifetime left runs: only the expiry was wrong.
  const ok = forged({ key: 'victim', payload: signPayload('victim') });
  ok.auth = signTask(cred, { id: ok.id, type: ok.type, key: ok.key, payload: ok.payload }, Date.now() + DAY_MS);
  const p = partitionOf('victim', cluster.partitions);
  await store.enqueue(p, [ok]);
  let o: unknown = null;
  await pollUntil(async () => (o = await alice.result(ok.id, { key: 'victim' })) !== null, 'the outcome of the unexpired request');
  expect(o).toMatchObject({ ok: true });
});

test('a result planted before the task runs, or swapped from another task, is refused', async () => {
  // Planted: "the signature is valid", for a signature that is not.
  const planted = randomUUID();
  await attacker.set(keys.result(partitionOf(planted, cluster.partitions), planted), JSON.stringify({ ok: 1, v: { valid: true } }));
  const bad = Buffer.alloc(64, 1);
  expect(await errorCode(alice.vault.verify(victim.publicKey, digest, bad, { id: planted }))).toBe('E_FORGED_OUTCOME');
  // Swapped: a genuine, node-signed outcome of another task of alice's.
  const sig = await alice.vault.sign('victim', digest);
  const genuine = randomUUID();
  await alice.vault.verify(victim.publicKey, digest, sig.signature, { id: genuine });
  const raw = await attacker.get(keys.result(partitionOf(genuine, cluster.partitions), genuine));
  expect(raw).toMatch(/^\{"a":"/);
  const target = randomUUID();
  await attacker.set(keys.result(partitionOf(target, cluster.partitions), target), raw!);
  expect(await errorCode(alice.vault.verify(victim.publicKey, digest, bad, { id: target }))).toBe('E_FORGED_OUTCOME');
  expect(await errorCode(alice.result(target))).toBe('E_FORGED_OUTCOME');
  // The node still answers the honest question.
  expect(await alice.vault.verify(victim.publicKey, digest, bad)).toEqual({ valid: false });
});

test('a forged reply published to a waiting call() is refused', async () => {
  const id = randomUUID();
  const bad = Buffer.alloc(64, 2);
  // Scheduled a day out, so the genuine answer cannot arrive first.
  const call = errorCode(alice.vault.verify(victim.publicKey, digest, bad, { id, delayMs: DAY_MS }));
  const p = partitionOf(id, cluster.partitions);
  let reply: string | null = null;
  await pollUntil(async () => (reply = await attacker.hget(keys.task(p, id), 'reply')) !== null, 'the waiting task in Redis');
  expect(await attacker.publish(reply!, `${id} ${JSON.stringify({ ok: 1, v: { valid: true } })}`)).toBe(1);
  expect(await call).toBe('E_FORGED_OUTCOME');
  await unscheduled(p, id);
});

test('a revocation the node has seen stays in force when its Redis entry is deleted', async () => {
  const issued = await tokens.issue({ account: 'alice', perm: 'read', ttlSec: 3600 });
  const reader = cluster.client({ token: issued.token });
  expect((await reader.vault.info('victim')).vaultId).toBe('victim');
  await tokens.revoke(issued.jti);
  await pollUntil(async () => (await errorCode(reader.vault.info('victim'))) === 'E_UNAUTHORIZED', 'the revocation to reach the node');
  expect(await attacker.hdel(new GwKeys(cluster.prefix).tokensRevoked(), issued.jti)).toBe(1);
  // Past the node's 1 s re-check of cached tokens, so the re-check of the (now empty) list runs.
  await new Promise((r) => setTimeout(r, 1200));
  expect(await errorCode(reader.vault.info('victim'))).toBe('E_UNAUTHORIZED');
});

test('payloads in Redis carry no token and no password in the clear', async () => {
  const password = `correct horse ${randomBytes(6).toString('hex')}`;
  const p = partitionOf('victim', cluster.partitions);
  const exportId = randomUUID();
  const pending = errorCode(alice.vault.export('victim', password, { id: exportId, delayMs: DAY_MS }));
  let rec: Record<string, string> = {};
  await pollUntil(async () => Object.keys((rec = await attacker.hgetall(keys.task(p, exportId)))).length > 0, 'the export task in Redis');
  const payload = JSON.parse(rec.payload!) as Record<string, unknown>;
  expect(Object.keys(payload).sort()).toEqual(['password', 'vaultId']);
  expect(payload.password).toMatch(/^x1\./);
  expect(JSON.stringify(rec)).not.toContain(password);
  expect(JSON.stringify(rec)).not.toContain(aliceToken); // the whole credential (its request key) never
  expect(JSON.stringify(rec)).not.toContain(aliceToken.slice(aliceToken.lastIndexOf('.') + 1));
  await unscheduled(p, exportId);
  void pending;
});

test('after all of it, the victim vault is unchanged and signs for its owner', async () => {
  const info = await alice.vault.info('victim');
  expect({ epoch: info.epoch, version: info.version, publicKey: info.publicKey }).toEqual(victim);
  const s = await alice.vault.sign('victim', digest);
  expect(s.signature).toMatch(/^[0-9a-f]{128}$/);
});
