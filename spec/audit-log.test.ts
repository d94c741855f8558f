// The audit log (issue 12): one entry per vault operation and gateway sign, in a Redis stream per
// account, chained by hashes and MAC'd under a key of the token secret. Tampering with the stream in
// Redis (deleting, editing, reordering entries) is found by `hway audit --verify`; an operation
// whose entry cannot be written does not release its result (fail closed).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { hashOf, macOf, verifyChain, type AuditEntry, type StoredEntry } from '../actors/audit/entry.js';
import { parseCredential } from '../actors/credential.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { createNode, type NodeInternals as HwayNode } from '../actors/node.js';
import { AuditStore } from '../storage/audit-store.js';
import { hway, type CliError } from './helpers/cli.js';
import { HANG_MS } from './helpers/deadlines.js';
import { errorCode } from './helpers/errors.js';
import { HANG_ONLY, REDIS, REDIS_URL, deleteKeys, redisEnv, testRedis } from './helpers/redis.js';
import { findSecrets, secretOf } from './helpers/secret-scan.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('audit');
const secret = randomBytes(32).toString('hex');
const digest = createHash('sha256').update('audited').digest();
const PASSWORD = `audit-me-${randomBytes(6).toString('hex')}`;
let node: HwayNode;
let tokens: TokenService;
let redis: Redis;
let store: AuditStore;
const t: Record<string, string> = {};

beforeAll(async () => {
  node = cluster.node({ tokenSecret: secret });
  await node.start();
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  for (const a of ['alice', 'bob']) t[a] = (await tokens.issue({ account: a, perm: 'admin', ttlSec: 600 })).token;
  redis = testRedis();
  store = new AuditStore(redis, cluster.prefix);
});
afterAll(async () => {
  await tokens?.close();
  await redis?.quit();
  await cluster.cleanup();
});

const parsed = (s: StoredEntry[]): AuditEntry[] => s.map((x) => JSON.parse(x.e) as AuditEntry);
const jtiOf = (cred: string): string => (JSON.parse(Buffer.from(parseCredential(cred).jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

/** As someone with Redis access would: the account's stream replaced by these entries. */
async function rewrite(account: string, entries: Array<Omit<StoredEntry, 'id'>>): Promise<void> {
  const key = store.keys.stream(account);
  await redis.del(key);
  for (const x of entries) await redis.xadd(key, '*', 'e', x.e, 'h', x.h, 'm', x.m);
}

const verify = (account: string): Promise<{ code: number | null; stdout: string; json: { accounts: Array<{ verified: boolean; broken: { reason: string; index: number } | null; entries: unknown[] }> } & Partial<CliError> }> =>
  hway(['audit', '--account', account, '--verify', '--json', '--prefix', cluster.prefix], { env: { ...redisEnv(), HWAY_TOKEN_SECRET: secret } });

describe('entries', () => {
  test('every vault operation and gateway sign appends one entry, with its account, token, digest and outcome', async () => {
    const alice = cluster.client({ token: t.alice! });
    const bob = cluster.client({ token: t.bob! });
    const v = await alice.vault.generate('a1');
    const sig = await alice.vault.sign('a1', digest);
    await alice.vault.verify(v.publicKey, digest, sig.signature);
    await alice.vault.refresh('a1');
    await alice.walletSign(v.addresses.eth, digest, undefined, { timeoutMs: HANG_MS });
    const { cid } = await alice.vault.export('a1', PASSWORD);
    await alice.vault.import(cid, 'a2', PASSWORD);
    await alice.vault.info('a2');
    await alice.vault.delete('a2');
    expect(await errorCode(bob.vault.sign('a1', digest))).toBe('E_FORBIDDEN');

    const entries = parsed(await store.read('alice'));
    expect(entries.map((e) => e.op)).toEqual(['vault:generate', 'vault:sign', 'vault:verify', 'vault:refresh', 'wallet:sign', 'vault:export', 'vault:import', 'vault:info', 'vault:delete']);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of entries) expect(e).toMatchObject({ account: 'alice', jti: jtiOf(t.alice!), node: node.nodeId, outcome: 'ok', kid: expect.any(String) });
    expect(entries.map((e) => e.target)).toEqual(['a1', 'a1', '', 'a1', v.addresses.eth, 'a1', 'a2', 'a2', 'a2']);
    expect(entries[1]!.digest).toBe(digest.toString('hex'));
    expect(entries[2]!.digest).toBe(digest.toString('hex'));
    expect(entries[4]!.digest).toBe(digest.toString('hex')); // a raw sign: the digest itself
    expect(new Set(entries.map((e) => e.task)).size).toBe(9);
    // A refusal is an entry too, in the account that asked.
    expect(parsed(await store.read('bob'))).toEqual([expect.objectContaining({ account: 'bob', op: 'vault:sign', target: 'a1', outcome: 'E_FORBIDDEN' })]);
    expect(await store.accounts()).toEqual(['alice', 'bob']);

    // Nothing secret in any entry: not the password, a credential, its request key, or the token secret.
    const raw = await store.read('alice');
    const hits = findSecrets(raw.map((s, i) => ({ source: `entry ${i}`, bytes: Buffer.from(s.e + s.h + s.m) })), [
      secretOf('password', PASSWORD),
      secretOf('credential', t.alice!),
      secretOf('request key', parseCredential(t.alice!).requestKey),
      secretOf('token secret', secret),
    ]);
    expect(hits).toEqual([]);
  });

  test('the chain verifies, and `hway audit` lists it', async () => {
    const keys = tokens.auditKeys().all;
    expect(verifyChain(await store.read('alice'), keys, false)).toBeNull();
    const r = await verify('alice');
    expect(r.code).toBe(0);
    expect(r.json.accounts[0]).toMatchObject({ verified: true, broken: null });
    expect(r.json.accounts[0]!.entries).toHaveLength(9);
  });
});

describe('tampering in Redis is found', () => {
  let original: StoredEntry[];
  beforeAll(async () => {
    original = await store.read('alice');
  });
  afterAll(() => rewrite('alice', original));
  const keys = (): Map<string, Uint8Array> => tokens.auditKeys().all;

  test('a deleted entry', async () => {
    await redis.xdel(store.keys.stream('alice'), original[3]!.id);
    expect(verifyChain(await store.read('alice'), keys())).toMatchObject({ index: 3, reason: 'link' });
    const r = await verify('alice');
    expect(r.code).toBe(1);
    expect(r.json.error?.code).toBe('E_AUDIT_BROKEN');
    await rewrite('alice', original);
  });

  test('an edited entry, with or without its hash recomputed', async () => {
    const edit = (x: StoredEntry): StoredEntry => ({ ...x, e: x.e.replace('"outcome":"ok"', '"outcome":"E_FORBIDDEN"') });
    const edited = original.map((x, i) => (i === 1 ? edit(x) : x));
    await rewrite('alice', edited);
    expect(verifyChain(await store.read('alice'), keys())).toMatchObject({ index: 1, reason: 'hash' });
    const rehashed = original.map((x, i) => (i === 1 ? { ...edit(x), h: hashOf(edit(x).e) } : x));
    await rewrite('alice', rehashed);
    expect(verifyChain(await store.read('alice'), keys())).toMatchObject({ index: 1, reason: 'mac' });
    // A MAC under any key but the node's does not help either.
    await rewrite('alice', rehashed.map((x, i) => (i === 1 ? { ...x, m: macOf(randomBytes(32), x.h) } : x)));
    expect(verifyChain(await store.read('alice'), keys())).toMatchObject({ index: 1, reason: 'mac' });
  });

  test('reordered entries', async () => {
    const swapped = [...original];
    [swapped[4], swapped[5]] = [swapped[5]!, swapped[4]!];
    await rewrite('alice', swapped);
    expect(verifyChain(await store.read('alice'), keys())).toMatchObject({ index: 4, reason: 'link' });
    const r = await verify('alice');
    expect(r.code).toBe(1);
    expect(r.json.error?.code).toBe('E_AUDIT_BROKEN');
    // The report before the error names the first broken link.
    const report = JSON.parse(r.stdout.trim().split('\n')[0]!) as { accounts: Array<{ broken: unknown }> };
    expect(report.accounts[0]!.broken).toMatchObject({ index: 4, reason: 'link' });
  });
});

describe('fail closed', () => {
  // A node whose Redis user may read but not write the audit keys (<prefix>:audit:…): every other key
  // of the prefix is writable (ACL key patterns only allow, so "all but audit:" is spelled out).
  const prefix = `hwt-auditfc-${randomBytes(3).toString('hex')}`;
  const user = `hway-audit-${randomBytes(3).toString('hex')}`;
  const pass = randomBytes(16).toString('hex');
  let admin: Redis;
  let n: HwayNode;
  let client: HwayClient;
  let dir: string;
  const allowAudit = (on: boolean): Promise<unknown> =>
    admin.call('ACL', 'SETUSER', user, 'on', `>${pass}`, 'resetkeys', ...notAudit.map((p) => `~${prefix}:${p}`), `${on ? '' : '%R'}~${prefix}:audit:*`, 'resetchannels', '&*', '+@all');
  const notAudit = ['[^a]*', 'a[^u]*', 'au[^d]*', 'aud[^i]*', 'audi[^t]*', 'audit[^:]*'];

  beforeAll(async () => {
    admin = testRedis();
    await allowAudit(false);
    dir = mkdtempSync(join(tmpdir(), 'hway-audit-'));
    const url = new URL(REDIS_URL);
    n = createNode({ redis: { host: url.hostname, port: Number(url.port || 6379), username: user, password: pass }, prefix, partitions: 4, dataDir: dir, masterKeys: cluster.masterKey, tokenSecret: secret, leaseMs: 1500, enclaveTimeoutMs: HANG_MS });
    await n.start();
    const issuer = new TokenService({ redis: REDIS, secret, prefix, subscribe: false });
    const token = (await issuer.issue({ account: 'carol', perm: 'admin', ttlSec: 600 })).token;
    await issuer.close();
    client = new HwayClient({ redis: REDIS, prefix, partitions: 4, token, callTimeoutMs: HANG_MS, ...HANG_ONLY });
  });
  afterAll(async () => {
    await client?.close();
    await n?.stop();
    await admin?.call('ACL', 'DELUSER', user);
    await deleteKeys(admin, prefix);
    await admin?.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  test('with the audit stream unwritable, no result is released; once writable, the same task answers', async () => {
    // The refusal is Redis's own: the node's user may not write the audit keys.
    const probe = testRedis({ username: user, password: pass });
    await expect(probe.xadd(`${prefix}:audit:{carol}`, '*', 'x', '1')).rejects.toThrow(/NOPERM/);
    await probe.quit();

    expect(await errorCode(client.vault.generate('c1', { maxRetries: 0 }))).toBe('E_AUDIT_UNAVAILABLE');
    expect(await errorCode(client.vault.sign('c1', digest, { maxRetries: 0 }))).toBe('E_AUDIT_UNAVAILABLE');
    expect(await admin.exists(`${prefix}:audit:{carol}`)).toBe(0);

    await allowAudit(true);
    const s = await client.vault.sign('c1', digest);
    expect(s.signature).toMatch(/^[0-9a-f]{128}$/);
    const entries = parsed(await new AuditStore(admin, prefix).read('carol'));
    expect(entries.map((e) => [e.op, e.outcome])).toEqual([['vault:sign', 'ok']]);
  });
});
