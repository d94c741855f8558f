// Handshake and frames: a wallet process with a real key connects and signs through the gateway; an
// address whose key the wallet lacks is refused; a challenge signature replayed on a new connection is
// refused; malformed frames get error answers while the node keeps serving; secrets never reach logs.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startGateway, type Gateway } from '../actors/gateway/gateway.js';
import { challengeDigest } from '../actors/gateway/frame-auth.js';
import { parseCredential, type Credential } from '../actors/credential.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { wasmVerifier } from '../actors/gateway/verify.js';
import { listenOnConn } from '../actors/gateway/wallet-channel.js';
import { addressMatchesKey } from '../enclaves/addresses.js';
import { HANG_MS } from './helpers/deadlines.js';
import { connFrameKey, helloFrame, sealForGateway, sealedFor } from './helpers/gateway-frames.js';
import { REDIS, testRedis, SECRET, capturingLogger, cleanup, newKey, quietLogger, spawnWallet, testPrefix, waitFor, type Child } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('handshake');
const keys = new GwKeys(prefix);
let redis: Redis;
let tokens: TokenService;
let gw: Gateway;
let client: GatewayClient;
let walletToken: string;
let walletCred: Credential;
let producerToken: string;
const children: Child[] = [];
const captured = capturingLogger('debug');
const keyA = newKey();

/** A wallet speaking raw frames, to send what the WalletConnector never would. */
class RawWallet {
  readonly conn = randomUUID();
  readonly frames: Array<Record<string, unknown>> = [];
  /** The messages as received (sealed ones are JSON too, with their MAC as member "m"). */
  readonly raw: string[] = [];
  private readonly sub = testRedis({}, { sharded: true });
  async open(): Promise<void> {
    this.sub.on('smessage', (_c: string, m: string) => {
      this.raw.push(m);
      this.frames.push(JSON.parse(m) as Record<string, unknown>);
    });
    await listenOnConn(this.sub, [keys.toConn(this.conn)], HANG_MS);
  }
  async send(f: unknown): Promise<void> {
    await redis.xadd(keys.hello(), '*', 'f', typeof f === 'string' ? f : JSON.stringify(f));
  }
  /** The first `t` frame from index `from`; waits for it with a hang-only deadline. */
  async next(t: string, from = 0): Promise<Record<string, unknown>> {
    let f: Record<string, unknown> | undefined;
    await waitFor(() => (f = this.frames.slice(from).find((x) => x.t === t)) !== undefined, `a ${t} frame`).catch((e: Error) => {
      throw new Error(`${e.message}; got ${JSON.stringify(this.frames)}`);
    });
    return f!;
  }
  close(): void {
    this.sub.disconnect();
  }
}

function signDigest(sk: Uint8Array, digest: Uint8Array): { signature: string; recovery: number } {
  const s = secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' });
  return { signature: Buffer.from(s.subarray(1)).toString('hex'), recovery: s[0]! };
}

beforeAll(async () => {
  redis = testRedis();
  tokens = new TokenService({ redis: REDIS, secret: SECRET, prefix, subscribe: false, logger: captured.logger });
  walletToken = (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token;
  walletCred = parseCredential(walletToken);
  producerToken = (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token;
  // Default verifier: the enclave's libsecp256k1.
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: captured.logger, heartbeatMs: 500 });
  // Requests are ordinary work: the client's deadline is hang-only.
  client = new GatewayClient({ redis: REDIS, prefix, token: producerToken, timeoutMs: HANG_MS });
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await client?.close();
  await gw?.stop();
  await tokens?.close();
  await cleanup(redis, prefix);
  redis.disconnect();
});

describe('gateway handshake', () => {
  test('a wallet process proves its key, and the address routes in both spellings', async () => {
    const w = spawnWallet({ redis: REDIS, prefix, token: walletToken, keys: [keyA.skHex] });
    children.push(w);
    const ev = await w.next('connected');
    expect(ev.accepted).toEqual([keyA.addr.eth]);
    expect(ev.refused).toEqual([]);
    expect(await client.walletHas(keyA.addr.eth)).toBe(true);
    expect(await client.walletHas(keyA.addr.eth.toLowerCase())).toBe(true);
    expect(await client.walletHas(keyA.addr.fil)).toBe(true); // announced as eth, asked as f1
    expect(await client.walletHas(`t${keyA.addr.fil.slice(1)}`)).toBe(true);
    expect(await client.walletHas(newKey().addr.eth)).toBe(false);

    const digest = randomBytes(32);
    const r = await client.walletSign(keyA.addr.fil, digest, { type: 'raw' });
    expect(r.via).toBe(ev.connId);
    const sig = Buffer.from(r.signature, 'hex');
    expect(secp256k1.verify(sig, digest, keyA.pk, { prehash: false })).toBe(true);
    const rec = new Uint8Array(65);
    rec[0] = r.recovery;
    rec.set(sig, 1);
    expect(addressMatchesKey(keyA.addr.eth, secp256k1.recoverPublicKey(rec, digest, { prehash: false }))).toBe(true);

    const list = await client.listWallets();
    expect(list.map((x) => x.id)).toContain(ev.connId);
    expect(list.find((x) => x.id === ev.connId)!.addresses).toEqual([keyA.addr.eth]);
  });

  test('an address whose key the wallet lacks is refused; the others are routed', async () => {
    const keyB = newKey();
    const stranger = newKey();
    const w = spawnWallet({ redis: REDIS, prefix, token: walletToken, keys: [keyB.skHex], claim: [stranger.addr.eth] });
    children.push(w);
    const ev = await w.next('connected');
    expect(ev.accepted).toEqual([keyB.addr.eth]);
    expect(ev.refused).toEqual([expect.objectContaining({ target: stranger.addr.eth, code: 'E_FORBIDDEN' })]);
    expect(await client.walletHas(keyB.addr.eth)).toBe(true);
    expect(await client.walletHas(stranger.addr.eth)).toBe(false);
    await expect(client.walletSign(stranger.addr.eth, randomBytes(32))).rejects.toMatchObject({ code: 'E_NO_WALLET' });

    // A wallet whose only address is not its own is refused outright.
    const impostor = spawnWallet({ redis: REDIS, prefix, token: walletToken, keys: [newKey().skHex], claim: [stranger.addr.fil], onlyClaim: true });
    children.push(impostor);
    const refused = await impostor.next('refused');
    expect(refused.code).toBe('E_FORBIDDEN');
    expect(await client.walletHas(stranger.addr.fil)).toBe(false);
  });

  test('a challenge signature replayed on a new connection is refused, and a proof is good once', async () => {
    const key = newKey();
    const walletNonce = randomBytes(32);
    const first = new RawWallet();
    await first.open();
    await first.send(helloFrame(walletCred, { conn: first.conn, nonce: walletNonce.toString('hex'), targets: [key.addr.eth] }));
    const ch1 = await first.next('challenge');
    expect(ch1.account).toBe('acme');
    const fk1 = connFrameKey(walletCred, first.conn, walletNonce, ch1.gatewayNonce as string);
    // Every frame on the connection's channel is sealed under its frame key.
    expect(first.raw.every((m) => sealedFor(fk1, first.conn, m))).toBe(true);
    const proof = { address: key.addr.eth, ...signDigest(key.sk, challengeDigest(first.conn, 'acme', Buffer.from(ch1.gatewayNonce as string, 'hex'), walletNonce)) };
    const prove = sealForGateway(fk1, first.conn, { t: 'prove', conn: first.conn, round: 0, proofs: [proof] });
    await first.send(prove);
    expect((await first.next('welcome')).accepted).toEqual([key.addr.eth]);

    // The same prove frame again: its challenge was consumed.
    const n = first.frames.length;
    await first.send(prove);
    expect(await first.next('error', n)).toMatchObject({ code: 'E_UNAUTHORIZED' });

    // An attacker without the key replays the recorded proof on a connection of its own, even with the
    // same walletNonce: the gateway's nonce is new, so the signature recovers to another key.
    const attacker = new RawWallet();
    await attacker.open();
    await attacker.send(helloFrame(walletCred, { conn: attacker.conn, nonce: walletNonce.toString('hex'), targets: [key.addr.eth] }));
    const ch2 = await attacker.next('challenge');
    expect(ch2.gatewayNonce).not.toEqual(ch1.gatewayNonce);
    const fk2 = connFrameKey(walletCred, attacker.conn, walletNonce, ch2.gatewayNonce as string);
    await attacker.send(sealForGateway(fk2, attacker.conn, { t: 'prove', conn: attacker.conn, round: 0, proofs: [proof] }));
    const err = await attacker.next('error');
    expect(err.code).toBe('E_FORBIDDEN');
    const route = await redis.smembers(keys.route('addr', 'acme', key.addr.eth));
    expect(route).toEqual([first.conn]);
    first.close();
    attacker.close();
  });

  test('a wallet without a valid token, or whose hello MAC does not verify, is refused', async () => {
    const hello = (cred: Credential | undefined, conn: string): Record<string, unknown> =>
      helloFrame(cred, { conn, nonce: randomBytes(32).toString('hex'), targets: [newKey().addr.eth] });
    const refusedWith = async (frame: (conn: string) => unknown, code: string): Promise<void> => {
      const raw = new RawWallet();
      await raw.open();
      await raw.send(frame(raw.conn));
      expect(await raw.next('error')).toMatchObject({ code });
      raw.close();
    };
    await refusedWith((conn) => ({ ...hello(walletCred, conn), jwt: `${walletCred.jwt}x` }), 'E_UNAUTHORIZED');
    await refusedWith((conn) => hello(undefined, conn), 'E_UNAUTHORIZED');
    // A MAC made for another connection, and one without the request key (a JWT alone is not enough).
    await refusedWith((conn) => ({ ...hello(walletCred, conn), mac: hello(walletCred, randomUUID()).mac }), 'E_UNAUTHORIZED');
    await refusedWith((conn) => hello({ jwt: walletCred.jwt, requestKey: randomBytes(32) }, conn), 'E_UNAUTHORIZED');
    // The bearer token of older versions is no field any more.
    await refusedWith((conn) => ({ t: 'hello', conn, kind: 'wallet', token: walletToken, nonce: randomBytes(32).toString('hex'), targets: [newKey().addr.eth] }), 'E_BAD_INPUT');
    const readOnly = parseCredential((await tokens.issue({ account: 'acme', perm: 'read', ttlSec: 60 })).token);
    await refusedWith((conn) => hello(readOnly, conn), 'E_FORBIDDEN');
  });

  test('malformed frames are answered with errors and the gateway keeps serving', async () => {
    const raw = new RawWallet();
    await raw.open();
    const before = gw.stats().malformed;
    await raw.send('{not json');
    await raw.send(JSON.stringify([1, 2, 3]));
    await raw.send({ t: 'hello', conn: raw.conn, kind: 'printer', jwt: walletCred.jwt, nonce: 'zz', targets: [] });
    expect(await raw.next('error')).toMatchObject({ code: 'E_BAD_INPUT' });
    await raw.send(helloFrame(walletCred, { conn: raw.conn, nonce: randomBytes(32).toString('hex'), targets: ['0xnot-an-address'] }));
    await raw.send({ t: 'prove', conn: raw.conn, round: 0, proofs: [{ address: 'x', signature: 'short', recovery: 9 }] });
    await raw.send({ t: 'explode', conn: raw.conn });
    // Garbage on the node's reply channel, as a broken wallet would send.
    await redis.publish(keys.toNode(gw.nodeId), 'garbage');
    await redis.publish(keys.toNode(gw.nodeId), JSON.stringify({ t: 'res', id: 'abcdefgh-1', conn: raw.conn, ok: true, signature: 'nothex' }));
    await redis.publish(keys.toNode(gw.nodeId), JSON.stringify({ t: 'res', id: 'abcdefgh-2', conn: raw.conn, ok: 'maybe' }));
    // Garbage producer requests.
    await redis.rpush(keys.requests(), '{', JSON.stringify({ v: 99 }));
    // Each of these is handled on its own path (hello stream, node channel, request list), in no
    // particular order: wait until all have been seen, however long that takes.
    await waitFor(() => raw.frames.filter((f) => f.t === 'error').length >= 6 && gw.stats().malformed - before >= 8, 'the malformed frames to be answered and counted');
    const errors = raw.frames.filter((f) => f.t === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(6);
    for (const e of errors) expect(e.code).toBe('E_BAD_INPUT');
    expect(gw.stats().malformed - before).toBeGreaterThanOrEqual(8);
    // Still serving.
    const digest = randomBytes(32);
    const r = await client.walletSign(keyA.addr.eth, digest);
    expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, keyA.pk, { prehash: false })).toBe(true);
    raw.close();
  });

  test('the default verifier (enclave libsecp256k1 on this thread) accepts good, refuses bad, lasts', async () => {
    const v = await wasmVerifier(quietLogger());
    expect(v.kind).toBe('wasm');
    try {
      const k = newKey();
      const digest = randomBytes(32);
      const sig = secp256k1.sign(digest, k.sk, { prehash: false });
      expect(await v.verify(k.pk, digest, sig)).toBe(true);
      expect(await v.verify(k.pk, randomBytes(32), sig)).toBe(false);
      expect(await v.verify(newKey().pk, digest, sig)).toBe(false);
      // High-S twin of a valid signature: refused (signatures are low-S).
      const S = secp256k1.Signature.fromBytes(sig);
      const high = new secp256k1.Signature(S.r, secp256k1.Point.Fn.ORDER - S.s).toBytes();
      expect(await v.verify(k.pk, digest, high)).toBe(false);
      // More calls than Extism's per-call handle table holds (16,383) when handles leak.
      const many = await Promise.all(Array.from({ length: 17_000 }, () => v.verify(k.pk, digest, sig)));
      expect(many.every(Boolean)).toBe(true);
    } finally {
      await v.close();
    }
  });

  test('tokens, request keys, MACs, nonces, challenge signatures and keys never appear in the logs (debug level)', async () => {
    const entries = await redis.xrange(keys.hello(), '-', '+');
    const producerCred = parseCredential(producerToken);
    const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64url');
    const secrets = new Set<string>([SECRET, walletToken, producerToken, walletCred.jwt, producerCred.jwt, b64(walletCred.requestKey), b64(producerCred.requestKey), keyA.skHex]);
    for (const [, fields] of entries) {
      let f: Record<string, unknown>;
      try {
        f = JSON.parse(fields[1]!) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof f.jwt === 'string' && f.jwt.length > 20) secrets.add(f.jwt);
      if (typeof f.mac === 'string' && f.mac.length === 43) secrets.add(f.mac);
      if (typeof f.m === 'string' && f.m.length === 43) secrets.add(f.m);
      if (typeof f.nonce === 'string' && f.nonce.length === 64) secrets.add(f.nonce);
      for (const p of (f.proofs as Array<{ signature: string }> | undefined) ?? []) if (p.signature?.length === 128) secrets.add(p.signature);
    }
    // Gateway nonces: from the stored challenges of this run (consumed ones are gone, so ask again).
    const raw = new RawWallet();
    await raw.open();
    await raw.send(helloFrame(walletCred, { conn: raw.conn, nonce: randomBytes(32).toString('hex'), targets: [newKey().addr.eth] }));
    secrets.add((await raw.next('challenge')).gatewayNonce as string);
    raw.close();
    expect(captured.lines.length).toBeGreaterThan(5);
    expect(captured.lines.some((l) => l.includes('"level":"debug"') || l.includes('wallet connected'))).toBe(true);
    const log = captured.lines.join('\n');
    expect(secrets.size).toBeGreaterThan(8);
    for (const s of secrets) expect(log.includes(s)).toBe(false);
  });
});
