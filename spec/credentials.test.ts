// Credentials (actors/credential.ts, actors/gateway/tokens.ts): the format, the lifetime limit,
// iss/aud, key ids and rotation, and the MACs of requests, outcomes and sealed passwords.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  deriveRequestKey,
  openOutcome,
  openSecret,
  parseCredential,
  parseTaskAuth,
  sealSecret,
  signOutcome,
  signTask,
  verifyTaskMac,
} from '../actors/credential.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { HwayError } from '../errors.js';
import { REDIS, deleteKeys, testRedis } from './helpers/redis.js';

const prefix = `hwt-cred-${randomBytes(3).toString('hex')}`;
const s1 = randomBytes(32);
const s2 = randomBytes(32);
const services: TokenService[] = [];
const service = (o: Partial<ConstructorParameters<typeof TokenService>[0]> = {}): TokenService => {
  const t = new TokenService({ redis: REDIS, prefix, subscribe: false, secret: s1, ...o });
  services.push(t);
  return t;
};
const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof HwayError ? e.code : String(e)));

let issuer: TokenService;
beforeAll(() => {
  issuer = service({ maxTtlSec: 3600 });
});
afterAll(async () => {
  await Promise.all(services.map((s) => s.close()));
  const r = testRedis();
  await deleteKeys(r, prefix);
  await r.quit();
});

describe('tokens', () => {
  test('a credential is the JWT and its request key, which the nodes derive from the secret', async () => {
    const { token, jti } = await issuer.issue({ account: 'acme', perm: 'sign', ttlSec: 600 });
    const cred = parseCredential(token);
    expect(cred.jwt.split('.')).toHaveLength(3);
    expect(Buffer.from(cred.requestKey)).toEqual(Buffer.from(deriveRequestKey(s1, jti)));
    const a = await issuer.authenticate(cred.jwt);
    expect(a.claims).toMatchObject({ account: 'acme', perm: 'sign', jti });
    expect(Buffer.from(a.requestKey)).toEqual(Buffer.from(cred.requestKey));
    // The header names the secret; the claims name Highway as issuer and audience.
    const [h, p] = cred.jwt.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x!, 'base64url').toString()) as Record<string, unknown>);
    expect(h).toMatchObject({ alg: 'HS256', kid: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/) });
    expect(p).toMatchObject({ iss: 'hway', aud: 'hway', sub: 'acme', perm: 'sign', jti });
    expect(() => parseCredential(cred.jwt)).toThrow(/bare token/);
  });

  test('a lifetime past the maximum is refused at issue, and at verification', async () => {
    expect(await code(issuer.issue({ account: 'acme', perm: 'read', ttlSec: 3601 }))).toBe('E_BAD_INPUT');
    const { token } = await service({ maxTtlSec: 7200 }).issue({ account: 'acme', perm: 'read', ttlSec: 7200 });
    expect(await code(issuer.verifyToken(token))).toBe('E_UNAUTHORIZED');
  });

  test('a JWT made with the secret for another issuer or audience is refused', async () => {
    const { token } = await issuer.issue({ account: 'acme', perm: 'read', ttlSec: 60 });
    const kid = (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const now = Math.floor(Date.now() / 1000);
    const make = (iss: string, aud: string): Promise<string> =>
      new SignJWT({ perm: 'admin' }).setProtectedHeader({ alg: 'HS256', kid }).setIssuer(iss).setAudience(aud).setSubject('acme').setJti('x1').setIssuedAt(now).setExpirationTime(now + 60).sign(s1);
    expect(await code(issuer.verifyToken(await make('other', 'hway')))).toBe('E_UNAUTHORIZED');
    expect(await code(issuer.verifyToken(await make('hway', 'other')))).toBe('E_UNAUTHORIZED');
    expect(await code(issuer.verifyToken(await make('hway', 'hway')))).toBe('ok');
  });

  test('rotation: tokens of the previous secret verify, with the same request key, until it is dropped', async () => {
    const old = await issuer.issue({ account: 'acme', perm: 'sign', ttlSec: 600 });
    const rotated = service({ secret: s2, previousSecrets: [s1] });
    const a = await rotated.authenticate(parseCredential(old.token).jwt);
    expect(Buffer.from(a.requestKey)).toEqual(Buffer.from(parseCredential(old.token).requestKey));
    const fresh = await rotated.issue({ account: 'acme', perm: 'sign', ttlSec: 600 });
    expect(await code(issuer.verifyToken(fresh.token))).toBe('E_UNAUTHORIZED'); // the old node does not know s2
    expect(await code(service({ secret: s2 }).verifyToken(old.token))).toBe('E_UNAUTHORIZED'); // s1 dropped
  });
});

describe('MACs', () => {
  const rk = randomBytes(32);
  const task = { id: 't-1', type: 'vault:sign', key: 'v1', payload: '{"vaultId":"v1"}' };

  test('a task MAC binds id, type, key, payload and expiry', () => {
    const a = parseTaskAuth(signTask({ jwt: 'h.p.s', requestKey: rk }, task, 1_000))!;
    expect(a).toMatchObject({ jwt: 'h.p.s', exp: 1_000 });
    expect(verifyTaskMac(rk, task, a)).toBe(true);
    for (const changed of [{ id: 't-2' }, { type: 'vault:export' }, { key: 'v2' }, { payload: '{"vaultId":"v2"}' }]) {
      expect(verifyTaskMac(rk, { ...task, ...changed }, a)).toBe(false);
    }
    expect(verifyTaskMac(rk, task, { ...a, exp: 2_000 })).toBe(false);
    expect(verifyTaskMac(randomBytes(32), task, a)).toBe(false);
    expect(parseTaskAuth('garbage')).toBeNull();
  });

  test('an outcome opens only for its own task under its own key; plain JSON readers still parse it', () => {
    const env = JSON.stringify({ ok: 1, v: { valid: false, note: 'a "quoted", value' } });
    const signed = signOutcome(rk, 't-1', env);
    expect(JSON.parse(signed)).toMatchObject({ ok: 1, v: { valid: false } });
    expect(openOutcome(rk, 't-1', signed)).toBe(env);
    expect(openOutcome(rk, 't-2', signed)).toBeNull();
    expect(openOutcome(randomBytes(32), 't-1', signed)).toBeNull();
    expect(openOutcome(rk, 't-1', signed.replace('false', 'true '))).toBeNull();
    expect(openOutcome(rk, 't-1', env)).toBeNull();
  });

  test('a sealed password opens only for its task and type, and hides the password', () => {
    const box = sealSecret(rk, 't-1', 'vault:export', 'correct horse battery');
    expect(box).not.toContain('correct');
    expect(openSecret(rk, 't-1', 'vault:export', box)).toBe('correct horse battery');
    for (const [id, type, key] of [['t-2', 'vault:export', rk], ['t-1', 'vault:import', rk], ['t-1', 'vault:export', randomBytes(32)]] as const) {
      expect(() => openSecret(key, id, type, box)).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    }
    expect(sealSecret(rk, 't-1', 'vault:export', 'same')).not.toBe(sealSecret(rk, 't-1', 'vault:export', 'same')); // fresh nonce
  });
});
