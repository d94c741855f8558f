// The REST routes of the node's HTTP endpoint, called with plain fetch as a producer in another
// language would: every vault operation (signatures checked independently with @noble/curves and
// viem), one export/import round trip, schema and payload refusals with stable codes, unknown vaults,
// the bearer rules (whole credential only, permission, account isolation, rate limits), a node with
// auth off refusing, and /openapi.json: an OpenAPI 3 document of exactly these routes and their schemas.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { verifyMessage } from 'viem';
import { TokenService } from '../actors/gateway/tokens.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { REDIS, testCluster } from './helpers/node.js';
import { quietLogger } from './fixtures/ingress-helpers.js';

const cluster = testCluster('http-rest', 4);
const secret = randomBytes(32).toString('hex');
let node: HwayNode;
let tokens: TokenService;
let url: string;
const t: Record<string, string> = {};
/** Waiting for a task's result is ordinary work: the route's wait is hang-only. */
const WAIT = `?timeoutMs=${HANG_MS}`;

beforeAll(async () => {
  // The token bucket holds 40 and refills one per 100 s: how fast requests are served does not change
  // how many pass (only the 'limited' token comes near it).
  node = cluster.node({ tokenSecret: secret, http: { port: 0 }, logger: quietLogger(), gateway: { rateLimits: { token: { rate: 0.01, burst: 40 }, account: { rate: 1000, burst: 1000 } } } });
  await node.start();
  url = (await node.stats()).http!.url;
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  for (const [name, account, perm] of [
    ['alice', 'alice', 'admin'],
    ['aliceSign', 'alice', 'sign'],
    ['aliceRead', 'alice', 'read'],
    ['bob', 'bob', 'admin'],
    ['limited', 'carol', 'read'],
  ] as const) {
    t[name] = (await tokens.issue({ account, perm, ttlSec: 3600 })).token;
  }
  await pollUntil(async () => (await fetch(`${url}/readyz`)).status === 200, 'the node to be ready');
});

afterAll(async () => {
  await tokens?.close();
  await cluster.cleanup();
});

/** Parsed JSON as the assertions read it, field by field (a wrong shape fails the assertion, not the compiler). */
type Doc = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Answer {
  status: number;
  headers: Headers;
  json: Doc;
}

async function call(method: string, path: string, o: { token?: string; auth?: string; body?: unknown; raw?: string; base?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const auth = o.auth ?? (o.token === undefined ? undefined : `Bearer ${o.token}`);
  if (auth !== undefined) headers.authorization = auth;
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${o.base ?? url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

const errorOf = (a: Answer): { status: number; code: string } => ({ status: a.status, code: a.json?.error?.code });

describe('vault operations over REST', () => {
  test('generate, info, sign, sign-as eth-personal, verify, refresh, delete', async () => {
    const gen = await call('POST', `/v1/vaults/rest-a1/generate${WAIT}`, { token: t.alice });
    expect(gen.status).toBe(201);
    expect(gen.json).toEqual({ vaultId: 'rest-a1', publicKey: expect.stringMatching(/^[0-9a-f]+$/), addresses: { eth: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/), fil: expect.stringMatching(/^f1/) } });
    expect(gen.headers.get('cache-control')).toBe('no-store');
    const pk = Buffer.from(gen.json.publicKey, 'hex');

    const info = await call('GET', `/v1/vaults/rest-a1${WAIT}`, { token: t.aliceRead });
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ vaultId: 'rest-a1', publicKey: gen.json.publicKey, account: 'alice', epoch: 0, addresses: gen.json.addresses });

    // A digest, and a message hashed by the node: both verify against the vault's key, outside Highway.
    const digest = randomBytes(32);
    const s1 = await call('POST', `/v1/vaults/rest-a1/sign${WAIT}`, { token: t.aliceSign, body: { data: digest.toString('hex') } });
    expect(s1.status).toBe(200);
    expect(s1.json).toEqual({ signature: expect.stringMatching(/^[0-9a-f]{128}$/), recovery: expect.any(Number) });
    expect(secp256k1.verify(Buffer.from(s1.json.signature, 'hex'), digest, pk, { prehash: false })).toBe(true);
    const message = Buffer.from('hello over REST');
    const s2 = await call('POST', `/v1/vaults/rest-a1/sign${WAIT}`, { token: t.aliceSign, body: { data: `0x${message.toString('hex')}`, hash: 'sha256' } });
    expect(s2.status).toBe(200);
    expect(secp256k1.verify(Buffer.from(s2.json.signature, 'hex'), createHash('sha256').update(message).digest(), pk, { prehash: false })).toBe(true);

    const personal = await call('POST', `/v1/vaults/rest-a1/sign-as${WAIT}`, { token: t.aliceSign, body: { scheme: 'eth-personal', input: { message: 'sign in to REST' } } });
    expect(personal.status).toBe(200);
    expect(personal.json).toEqual({ signature: expect.stringMatching(/^0x[0-9a-f]{130}$/) });
    expect(await verifyMessage({ address: gen.json.addresses.eth, message: 'sign in to REST', signature: personal.json.signature })).toBe(true);
    expect(await verifyMessage({ address: gen.json.addresses.eth, message: 'something else', signature: personal.json.signature })).toBe(false);

    const v = { publicKey: gen.json.publicKey, data: digest.toString('hex'), signature: s1.json.signature };
    expect((await call('POST', `/v1/verify${WAIT}`, { token: t.aliceRead, body: v })).json).toEqual({ valid: true });
    const other = await call('POST', `/v1/verify${WAIT}`, { token: t.aliceRead, body: { ...v, data: randomBytes(32).toString('hex') } });
    expect([other.status, other.json]).toEqual([200, { valid: false }]);

    const refreshed = await call('POST', `/v1/vaults/rest-a1/refresh${WAIT}`, { token: t.alice });
    expect([refreshed.status, refreshed.json]).toEqual([200, { vaultId: 'rest-a1', epoch: 1, publicKey: gen.json.publicKey }]);
    expect((await call('GET', `/v1/vaults/rest-a1${WAIT}`, { token: t.alice })).json.epoch).toBe(1);

    const del = await call('DELETE', `/v1/vaults/rest-a1${WAIT}`, { token: t.alice });
    expect([del.status, del.json]).toEqual([200, { vaultId: 'rest-a1', deleted: true }]);
    expect(errorOf(await call('GET', `/v1/vaults/rest-a1${WAIT}`, { token: t.alice }))).toEqual({ status: 404, code: 'E_UNKNOWN_VAULT' });
  });

  test('export and import: the password travels in the body; the copy has the same key', async () => {
    const gen = await call('POST', `/v1/vaults/rest-x1/generate${WAIT}`, { token: t.alice });
    expect(gen.status).toBe(201);
    const password = `pw-${randomBytes(12).toString('hex')}`;
    // Refused before any Argon2id work: too short (the node's code), and not without a body.
    expect(errorOf(await call('POST', `/v1/vaults/rest-x1/export${WAIT}`, { token: t.alice, body: { password: 'short' } }))).toEqual({ status: 400, code: 'E_WEAK_PASSWORD' });
    expect(errorOf(await call('POST', `/v1/vaults/rest-x1/export${WAIT}`, { token: t.alice }))).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    const exp = await call('POST', `/v1/vaults/rest-x1/export${WAIT}`, { token: t.alice, body: { password } });
    expect(exp.status).toBe(200);
    expect(exp.json).toEqual({ vaultId: 'rest-x1', cid: expect.stringMatching(/^[A-Za-z0-9]{10,}$/) });
    const imp = await call('POST', `/v1/vaults/rest-x1-copy/import${WAIT}`, { token: t.alice, body: { cid: exp.json.cid, password } });
    expect(imp.status).toBe(201);
    expect(imp.json).toEqual({ vaultId: 'rest-x1-copy', publicKey: gen.json.publicKey, addresses: gen.json.addresses, sourceVaultId: 'rest-x1' });
  });
});

describe('refusals', () => {
  test('schema, payload and state errors: status and stable code', async () => {
    expect((await call('POST', `/v1/vaults/rest-b1/generate${WAIT}`, { token: t.alice })).status).toBe(201);
    const bad = async (method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; code: string }> =>
      errorOf(await call(method, `${path}${WAIT}`, { token: t.alice, ...(body === undefined ? {} : { body }), ...(raw === undefined ? {} : { raw }) }));
    // Schema (fastify, before any task): E_BAD_INPUT naming the field.
    const missing = await call('POST', `/v1/vaults/rest-b1/sign${WAIT}`, { token: t.alice, body: {} });
    expect(errorOf(missing)).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(missing.json.error.message).toContain('data');
    expect(await bad('POST', '/v1/vaults/rest-b1/sign', { data: 'xyz' })).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(await bad('POST', '/v1/vaults/rest-b1/sign', { data: '00'.repeat(32), hash: 'md5' })).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(await bad('POST', '/v1/vaults/rest-b1/sign-as', { scheme: 'btc', input: {} })).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(await bad('POST', '/v1/vaults/rest-b1/sign', undefined, '{"data": ')).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(await bad('GET', '/v1/vaults/bad%20id!')).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    expect(errorOf(await call('GET', `/v1/vaults/rest-b1${WAIT}&timeoutMs=0`, { token: t.alice }))).toEqual({ status: 400, code: 'E_BAD_INPUT' });
    // Payload checks of the node: the same codes a producer of HwayClient gets.
    expect(await bad('POST', '/v1/vaults/rest-b1/sign', { data: '00'.repeat(31) })).toEqual({ status: 400, code: 'E_BAD_PAYLOAD' });
    expect(await bad('POST', '/v1/vaults/rest-b1/sign-as', { scheme: 'eth-personal', input: { nothing: 1 } })).toEqual({ status: 400, code: 'E_BAD_PAYLOAD' });
    // State.
    expect(await bad('POST', '/v1/vaults/rest-b1/generate')).toEqual({ status: 409, code: 'E_VAULT_EXISTS' });
    expect(await bad('POST', '/v1/vaults/rest-nobody/sign', { data: '11'.repeat(32) })).toEqual({ status: 404, code: 'E_UNKNOWN_VAULT' });
    expect(await bad('GET', '/v1/vaults/rest-nobody')).toEqual({ status: 404, code: 'E_UNKNOWN_VAULT' });
    expect(await bad('POST', '/v1/vaults/rest-b1/frobnicate')).toEqual({ status: 404, code: 'E_NOT_FOUND' });
  });

  test('auth: the whole credential is the bearer, with the permission of the operation, for its own account', async () => {
    expect((await call('POST', `/v1/vaults/rest-c1/generate${WAIT}`, { token: t.alice })).status).toBe(201);
    const sign = (o: { token?: string; auth?: string }): Promise<Answer> => call('POST', `/v1/vaults/rest-c1/sign${WAIT}`, { ...o, body: { data: '22'.repeat(32) } });

    const none = await sign({});
    expect(errorOf(none)).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const jwt = t.alice!.slice(0, t.alice!.lastIndexOf('.'));
    const bare = await sign({ token: jwt });
    expect(errorOf(bare)).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });
    expect(bare.json.error.message).toContain('bare JWT');
    expect(errorOf(await sign({ token: `${jwt}.${randomBytes(32).toString('base64url')}` }))).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });
    expect(errorOf(await sign({ auth: `Basic ${Buffer.from(`x:${t.alice}`).toString('base64')}` }))).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });
    // Refused before the body is read: a bad body without a credential is a 401, not a 400.
    expect(errorOf(await call('POST', `/v1/vaults/rest-c1/sign${WAIT}`, { raw: 'not json' }))).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });

    const read = await sign({ token: t.aliceRead });
    expect(errorOf(read)).toEqual({ status: 403, code: 'E_FORBIDDEN' });
    expect(read.json.error.message).toContain('"sign" is needed');
    expect(errorOf(await call('DELETE', `/v1/vaults/rest-c1${WAIT}`, { token: t.aliceSign }))).toEqual({ status: 403, code: 'E_FORBIDDEN' });
    // Another account's vault: refused by the node, and nothing of it is shown.
    for (const a of [await sign({ token: t.bob }), await call('GET', `/v1/vaults/rest-c1${WAIT}`, { token: t.bob })]) {
      expect(errorOf(a)).toEqual({ status: 403, code: 'E_FORBIDDEN' });
      expect(JSON.stringify(a.json)).not.toMatch(/publicKey|0x[0-9a-fA-F]{40}/);
    }
    expect(errorOf(await call('DELETE', `/v1/vaults/rest-c1${WAIT}`, { token: t.bob }))).toEqual({ status: 403, code: 'E_FORBIDDEN' });
    expect((await sign({ token: t.aliceSign })).status).toBe(200);
  });

  test("rate limits of the caller's token apply: 429 E_RATE_LIMITED past the burst", async () => {
    const sk = secp256k1.utils.randomSecretKey();
    const digest = randomBytes(32);
    const body = { publicKey: Buffer.from(secp256k1.getPublicKey(sk)).toString('hex'), data: digest.toString('hex'), signature: Buffer.from(secp256k1.sign(digest, sk, { prehash: false })).toString('hex') };
    const answers = await Promise.all(Array.from({ length: 60 }, () => call('POST', `/v1/verify${WAIT}`, { token: t.limited, body })));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.json.error).toEqual({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/retry after \d+ ms/) });
    const passed = answers.filter((a) => a.status !== 429);
    expect(passed.every((a) => a.status === 200 && a.json.valid === true)).toBe(true);
    expect(passed.length).toBeGreaterThanOrEqual(30); // the burst passed
  });

  test('a node with auth off refuses the routes (401, saying auth is off); the document is still served', async () => {
    const open = testCluster('http-rest-open', 2);
    try {
      const n = open.node({ http: { port: 0 }, logger: quietLogger(), gateway: false });
      await n.start();
      const base = (await n.stats()).http!.url;
      const r = await call('POST', `/v1/vaults/open-1/generate${WAIT}`, { base, token: t.alice });
      expect(errorOf(r)).toEqual({ status: 401, code: 'E_UNAUTHORIZED' });
      expect(r.json.error.message).toContain('auth is off');
      expect((await call('GET', `/v1/vaults/open-1${WAIT}`, { base })).status).toBe(401);
      expect((await call('GET', '/openapi.json', { base })).status).toBe(200);
    } finally {
      await open.cleanup();
    }
  });
});

describe('GET /openapi.json', () => {
  const ROUTES: Array<[string, string, string[] | null]> = [
    ['post', '/v1/vaults/{id}/generate', null],
    ['get', '/v1/vaults/{id}', null],
    ['delete', '/v1/vaults/{id}', null],
    ['post', '/v1/vaults/{id}/sign', ['data']],
    ['post', '/v1/vaults/{id}/sign-as', ['scheme', 'input']],
    ['post', '/v1/vaults/{id}/refresh', null],
    ['post', '/v1/vaults/{id}/export', ['password']],
    ['post', '/v1/vaults/{id}/import', ['cid', 'password']],
    ['post', '/v1/verify', ['publicKey', 'data', 'signature']],
  ];

  /** Every $ref in the document points at a schema it defines. */
  function refs(x: unknown, out: string[] = []): string[] {
    if (Array.isArray(x)) x.forEach((v) => refs(v, out));
    else if (x !== null && typeof x === 'object') for (const [k, v] of Object.entries(x)) k === '$ref' ? out.push(v as string) : refs(v, out);
    return out;
  }

  test('an OpenAPI 3 document of every route, with its parameters, request schema, answers and errors', async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = r.json as Doc;
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.credential).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ credential: [] }]);
    // Exactly these operations: not /metrics, /healthz, /readyz, nor the document itself.
    const listed = Object.entries(doc.paths as Doc).flatMap(([p, item]) => Object.keys(item as Doc).filter((m) => ['get', 'post', 'put', 'delete', 'patch', 'head'].includes(m)).map((m) => `${m} ${p}`));
    expect(listed.sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());

    const errorRef = '#/components/schemas/HwayErrorBody';
    expect(doc.components.schemas.HwayErrorBody).toMatchObject({ type: 'object', required: ['error'] });
    for (const [m, p, required] of ROUTES) {
      const op = doc.paths[p][m] as Doc;
      expect({ p, m, id: typeof op.operationId, summary: typeof op.summary }).toEqual({ p, m, id: 'string', summary: 'string' });
      const params = (op.parameters ?? []) as Doc[];
      // Every {param} of the template is declared, in the path, required, with its pattern.
      for (const name of [...p.matchAll(/\{(\w+)\}/g)].map((x) => x[1])) {
        expect(params.find((q) => q.name === name && q.in === 'path')).toMatchObject({ required: true, schema: { type: 'string', pattern: expect.any(String) } });
      }
      expect(params.find((q) => q.name === 'timeoutMs')).toMatchObject({ in: 'query', schema: { type: 'integer' } });
      if (required === null) expect(op.requestBody).toBeUndefined();
      else {
        const schema = op.requestBody.content['application/json'].schema as Doc;
        expect({ p, type: schema.type, required: schema.required }).toEqual({ p, type: 'object', required });
        for (const f of required) expect(schema.properties[f]).toBeDefined();
      }
      const ok = Object.keys(op.responses as Doc).filter((s) => s.startsWith('2'));
      expect(ok).toHaveLength(1);
      expect(op.responses[ok[0]!].content['application/json'].schema).toBeDefined();
      for (const s of ['400', '401', '403', '429', '503', '504']) {
        expect({ p, s, ref: op.responses[s]?.content?.['application/json']?.schema?.$ref, d: typeof op.responses[s]?.description }).toEqual({ p, s, ref: errorRef, d: 'string' });
      }
    }
    expect(doc.paths['/v1/vaults/{id}'].get.responses['404'].content['application/json'].schema.$ref).toBe(errorRef);
    const sign = doc.paths['/v1/vaults/{id}/sign'].post;
    expect(sign.responses['200'].content['application/json'].schema).toMatchObject({ type: 'object', required: ['signature', 'recovery'] });
    expect(sign.requestBody.content['application/json'].schema.properties.hash.enum).toEqual(['none', 'sha256', 'keccak256']);
    for (const ref of refs(doc)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.slice('#/components/schemas/'.length)]).toBeDefined();
    }
  });
});
