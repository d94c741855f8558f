// Redis is untrusted (DESIGN.md): an attacker with full read and write access to it, here a raw Redis
// connection, gets nothing but denial of service from the gateway's frames. Producer requests without
// their MAC, with it copied onto other arguments, op or id, after their deadline or replayed are
// refused; forged or swapped answers on a producer's channel reject the call they name with
// E_FORGED_OUTCOME; sign frames published on a wallet's channel without the connection's MAC, with a
// wrong one, or replayed from a capture never reach the wallet's signer; a handshake proof made for one
// connection proves nothing for another. Each time the real thing keeps working.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { parseCredential, type Credential } from '../actors/credential.js';
import { WalletConnector, localKeyWallet } from '../actors/gateway/connector.js';
import { GW_LABEL, challengeDigest, seal, unseal } from '../actors/gateway/frame-auth.js';
import { startGateway, nobleVerifier, type Gateway } from '../actors/gateway/gateway.js';
import { GwKeys } from '../actors/gateway/keys.js';
import { GatewayClient } from '../actors/gateway/producer.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { listenOnConn, sendToConn } from '../actors/gateway/wallet-channel.js';
import { addressMatchesKey } from '../enclaves/addresses.js';
import { HANG_MS } from './helpers/deadlines.js';
import { connFrameKey, helloFrame, requestFrame, responseSealed, sealForGateway, walletWire } from './helpers/gateway-frames.js';
import { REDIS, SECRET, capturingLogger, cleanup, newKey, testPrefix, testRedis, waitFor } from './fixtures/wallet-helpers.js';

const prefix = testPrefix('frame-auth');
const keys = new GwKeys(prefix);
let attacker: Redis;
let tokens: TokenService;
let gw: Gateway;
let client: GatewayClient;
let wallet: WalletConnector;
let walletToken: string;
let producerToken: string;
let walletCred: Credential;
let producer: Credential;
const key = newKey();
const walletLog = capturingLogger('debug');
/** The gateway's and clients' logs: refusals are expected here, and not worth printing. */
const silent = capturingLogger('error').logger;
/** How many times the wallet's signer was asked to sign a producer's request. */
let signed = 0;
const refusals: string[] = [];
const closers: Array<{ disconnect(): void }> = [];

/** A plain subscriber (attacker's) collecting what is published on `channel`. */
async function listen(channel: string): Promise<string[]> {
  const sub = testRedis();
  closers.push(sub);
  const got: string[] = [];
  sub.on('message', (_c: string, m: string) => got.push(m));
  await sub.subscribe(channel);
  return got;
}

/** The answer published for request `id` (waits with a hang-only deadline). */
async function answerTo(got: string[], id: string): Promise<string> {
  let raw: string | undefined;
  await waitFor(() => (raw = got.find((m) => (JSON.parse(m) as { id?: string }).id === id)) !== undefined, `the answer to ${id}`);
  return raw!;
}

beforeAll(async () => {
  attacker = testRedis();
  tokens = new TokenService({ redis: REDIS, secret: SECRET, prefix, subscribe: false, logger: silent });
  walletToken = (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token;
  producerToken = (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 600 })).token;
  walletCred = parseCredential(walletToken);
  producer = parseCredential(producerToken);
  // Hang-only request deadlines: a frame replayed later in this file is still within its deadline,
  // so what refuses it is the replay check, however slow the machine.
  gw = await startGateway({ redis: REDIS, prefix, tokenSecret: SECRET, logger: silent, heartbeatMs: 500, requestTimeoutMs: HANG_MS, verifier: nobleVerifier });
  const local = localKeyWallet([key.sk]);
  wallet = new WalletConnector({
    redis: REDIS,
    prefix,
    token: walletToken,
    logger: walletLog.logger,
    handshakeTimeoutMs: HANG_MS,
    ...local,
    onSign: (req) => {
      signed++;
      return local.onSign(req);
    },
  });
  wallet.on('frame-refused', (reason: string) => refusals.push(reason));
  await wallet.connect();
  client = new GatewayClient({ redis: REDIS, prefix, token: producerToken, timeoutMs: HANG_MS, logger: silent });
});

afterAll(async () => {
  for (const c of closers) c.disconnect();
  await client?.close();
  await wallet?.close();
  await gw?.stop();
  await tokens?.close();
  await cleanup(attacker, prefix);
  attacker.disconnect();
});

describe('producer requests through an untrusted Redis', () => {
  test('without a MAC, with a MAC copied onto other args, op or id, past the deadline or replayed: refused E_UNAUTHORIZED', async () => {
    const reply = keys.toClient(`attacker-${randomUUID()}`);
    const got = await listen(reply);
    const other = newKey();
    const base = { op: 'has' as const, reply, deadline: Date.now() + HANG_MS, args: { address: key.addr.eth } };
    const noMac = requestFrame(producer, { ...base, id: 'no-mac-0001' });
    delete noMac.mac;
    const genuineArgs = requestFrame(producer, { ...base, id: 'other-args-0001' });
    const genuineOp = requestFrame(producer, { ...base, id: 'other-op-0001' });
    const genuineId = requestFrame(producer, { ...base, id: 'other-id-0001' });
    const refused = {
      noMac,
      otherArgs: { ...genuineArgs, args: { address: other.addr.eth } },
      otherOp: { ...genuineOp, op: 'list' },
      otherId: { ...genuineId, id: 'other-id-0002' },
      // Made by the genuine holder, then captured and pushed again once its deadline has passed.
      expired: requestFrame(producer, { ...base, id: 'expired-0001', deadline: Date.now() - 1 }),
      // A JWT alone is not enough: a MAC under some other key.
      otherKey: requestFrame({ jwt: producer.jwt, requestKey: randomBytes(32) }, { ...base, id: 'other-key-0001' }),
    };
    for (const f of Object.values(refused)) await attacker.rpush(keys.requests(), JSON.stringify(f));
    for (const f of Object.values(refused)) {
      const raw = await answerTo(got, f.id);
      // Unsealed (the node has no key it could trust for them), and E_UNAUTHORIZED: the one unsealed
      // answer a producer believes.
      expect(unseal(raw)).toBeNull();
      expect(JSON.parse(raw)).toMatchObject({ id: f.id, ok: false, error: { code: 'E_UNAUTHORIZED' } });
    }

    // A genuine frame is served, sealed for its producer; the same frame again is a replay.
    const genuine = requestFrame(producer, { ...base, id: 'genuine-0001' });
    await attacker.rpush(keys.requests(), JSON.stringify(genuine));
    const first = await answerTo(got, genuine.id);
    expect(responseSealed(producer.requestKey, genuine.id, first)).toBe(true);
    expect(JSON.parse(first)).toMatchObject({ ok: true, value: true });
    await attacker.rpush(keys.requests(), JSON.stringify(genuine));
    await waitFor(() => got.filter((m) => (JSON.parse(m) as { id: string }).id === genuine.id).length === 2, 'the answer to the replay');
    const replayed = got.filter((m) => (JSON.parse(m) as { id: string }).id === genuine.id)[1]!;
    expect(JSON.parse(replayed)).toMatchObject({ ok: false, error: { code: 'E_UNAUTHORIZED' } });

    // The genuine answer and the frames themselves never carried the request key or the credential.
    const b64Key = Buffer.from(producer.requestKey).toString('base64url');
    for (const m of [...got, ...Object.values(refused).map((f) => JSON.stringify(f))]) {
      expect(m.includes(b64Key)).toBe(false);
      expect(m.includes(producerToken)).toBe(false);
    }
    // And the gateway keeps serving.
    expect(await client.walletHas(key.addr.eth)).toBe(true);
  });

  test("forged and swapped answers on a producer's channel reject the call with E_FORGED_OUTCOME; the client keeps working", async () => {
    // The attacker announces a gateway node that does not exist and takes the requests sent to it.
    const ghost = `ghost-${randomUUID()}`;
    await attacker.zadd(keys.nodes(), Date.now() + HANG_MS, ghost);
    const victim = new GatewayClient({ redis: REDIS, prefix, token: producerToken, timeoutMs: HANG_MS, nodeId: ghost, logger: silent });
    try {
      const captured = async (): Promise<{ id: string; reply: string; raw: string }> => {
        let raw: string | null = null;
        await waitFor(async () => (raw = await attacker.lpop(keys.nodeRequests(ghost))) !== null, 'a request to capture');
        const f = JSON.parse(raw!) as { id: string; reply: string };
        return { id: f.id, reply: f.reply, raw: raw! };
      };
      const relay = (raw: string): Promise<number> => attacker.rpush(keys.requests(), raw);

      // An unsealed success.
      const c1 = victim.walletHas(key.addr.eth);
      const f1 = await captured();
      expect(f1.raw.includes(Buffer.from(producer.requestKey).toString('base64url'))).toBe(false);
      await attacker.publish(f1.reply, JSON.stringify({ id: f1.id, ok: true, value: false }));
      await expect(c1).rejects.toMatchObject({ code: 'E_FORGED_OUTCOME' });

      // Sealed under a key that is not the producer's.
      const c2 = victim.walletHas(key.addr.eth);
      const f2 = await captured();
      await attacker.publish(f2.reply, seal(randomBytes(32), GW_LABEL.response, f2.id, JSON.stringify({ id: f2.id, ok: true, value: false })));
      await expect(c2).rejects.toMatchObject({ code: 'E_FORGED_OUTCOME' });

      // An unsealed error other than E_UNAUTHORIZED.
      const c3 = victim.walletHas(key.addr.eth);
      const f3 = await captured();
      await attacker.publish(f3.reply, JSON.stringify({ id: f3.id, ok: false, error: { code: 'E_NO_WALLET', message: 'nobody' } }));
      await expect(c3).rejects.toMatchObject({ code: 'E_FORGED_OUTCOME' });

      // A genuine answer to one call, swapped onto another.
      const got = await listen(keys.toClient(victim.clientId));
      const c4 = victim.walletHas(key.addr.eth);
      const f4 = await captured();
      const c5 = victim.walletHas(newKey().addr.eth);
      const f5 = await captured();
      await relay(f4.raw);
      expect(await c4).toBe(true);
      const genuine = await answerTo(got, f4.id);
      await attacker.publish(f5.reply, genuine.split(f4.id).join(f5.id));
      await expect(c5).rejects.toMatchObject({ code: 'E_FORGED_OUTCOME' });

      // The node's own unsealed E_UNAUTHORIZED (a request stripped of its MAC) is believed.
      const c6 = victim.walletHas(key.addr.eth);
      const f6 = await captured();
      const stripped = JSON.parse(f6.raw) as Record<string, unknown>;
      delete stripped.mac;
      await relay(JSON.stringify(stripped));
      await expect(c6).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });

      // Still working: a relayed request is answered, sealed, and believed.
      const c7 = victim.walletSign(key.addr.eth, randomBytes(32));
      await relay((await captured()).raw);
      expect((await c7).via).toBe(wallet.id);
    } finally {
      await victim.close();
      await attacker.zrem(keys.nodes(), ghost);
    }
  });
});

describe('frames to a wallet through an untrusted Redis', () => {
  test('sign frames without the connection MAC, with a wrong one, tampered or replayed never reach the signer', async () => {
    const channel = keys.toConn(wallet.id);
    // The attacker listens on the wallet's channel, to capture genuine frames.
    const spy = testRedis({}, { sharded: true });
    closers.push(spy);
    const seen: string[] = [];
    spy.on('smessage', (_c: string, m: string) => seen.push(m));
    await listenOnConn(spy, [channel], HANG_MS);

    const before = signed;
    const refusedBefore = refusals.length;
    const linesBefore = walletLog.lines.filter((l) => l.includes('refused a frame from the gateway')).length;
    const digest = randomBytes(32);
    const forged = { t: 'sign', id: 'forged-sign-0001', reply: keys.toNode(gw.nodeId), address: key.addr.eth, bytes: digest.toString('hex'), meta: { type: 'raw' }, deadline: Date.now() + HANG_MS } as const;
    await sendToConn(attacker, channel, JSON.stringify(forged));
    await sendToConn(attacker, channel, walletWire(wallet.id, { ...forged, id: 'forged-sign-0002' }, randomBytes(32)));
    await sendToConn(attacker, channel, JSON.stringify({ t: 'evicted', reason: 'forged' }));

    // A genuine request, captured on the way.
    const r = await client.walletSign(key.addr.eth, digest);
    expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, key.pk, { prehash: false })).toBe(true);
    expect(signed).toBe(before + 1);
    const capture = seen.find((m) => {
      const f = JSON.parse(m) as { t: string; id: string };
      return f.t === 'sign' && !f.id.startsWith('forged');
    });
    expect(capture).toBeDefined();
    expect(unseal(capture!)).not.toBeNull();
    // Replayed as is (within its deadline), and with other bytes under the captured MAC.
    await sendToConn(attacker, channel, capture!);
    await sendToConn(attacker, channel, capture!.replace(digest.toString('hex'), randomBytes(32).toString('hex')));

    await waitFor(() => refusals.length - refusedBefore >= 5, 'the wallet to refuse the five frames');
    expect(refusals.slice(refusedBefore)).toEqual(['no MAC', 'MAC does not verify', 'no MAC', 'replayed', 'MAC does not verify']);
    expect(signed).toBe(before + 1);
    expect(wallet.status).toBe('connected');
    // One log line per refused frame, with no secret in it.
    const lines = walletLog.lines.filter((l) => l.includes('refused a frame from the gateway'));
    expect(lines.length - linesBefore).toBe(5);
    for (const l of lines) {
      expect(l.includes(walletCred.jwt)).toBe(false);
      expect(l.includes(Buffer.from(walletCred.requestKey).toString('base64url'))).toBe(false);
    }

    // The wallet keeps serving genuine requests.
    const d2 = randomBytes(32);
    const r2 = await client.walletSign(key.addr.eth, d2);
    expect(secp256k1.verify(Buffer.from(r2.signature, 'hex'), d2, key.pk, { prehash: false })).toBe(true);
    expect(signed).toBe(before + 2);
  });

  test('an answer on the node channel that is not sealed by the asked wallet is ignored', async () => {
    const d = randomBytes(32);
    // Someone answers every sign frame it sees on the wallet's channel with a signature of its own key.
    const spy = testRedis({}, { sharded: true });
    closers.push(spy);
    const impostor = newKey();
    spy.on('smessage', (_c: string, m: string) => {
      const f = JSON.parse(m) as { t: string; id: string; reply: string };
      if (f.t !== 'sign') return;
      const s = secp256k1.sign(d, impostor.sk, { prehash: false, format: 'recovered' });
      void attacker.publish(f.reply, JSON.stringify({ t: 'res', id: f.id, conn: wallet.id, ok: true, signature: Buffer.from(s.subarray(1)).toString('hex'), recovery: s[0]! }));
    });
    await listenOnConn(spy, [keys.toConn(wallet.id)], HANG_MS);
    const r = await client.walletSign(key.addr.eth, d, { type: 'raw' });
    expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), d, key.pk, { prehash: false })).toBe(true);
    spy.disconnect();
  });
});

describe('handshake proofs', () => {
  /** A connection opened with raw frames, listening on its own channel. */
  async function rawHello(targets: string[]): Promise<{ conn: string; walletNonce: Uint8Array; frames: Array<Record<string, unknown>>; gatewayNonce: string; fk: Uint8Array }> {
    const conn = randomUUID();
    const walletNonce = randomBytes(32);
    const sub = testRedis({}, { sharded: true });
    closers.push(sub);
    const frames: Array<Record<string, unknown>> = [];
    sub.on('smessage', (_c: string, m: string) => frames.push(JSON.parse(m) as Record<string, unknown>));
    await listenOnConn(sub, [keys.toConn(conn)], HANG_MS);
    await attacker.xadd(keys.hello(), '*', 'f', JSON.stringify(helloFrame(walletCred, { conn, nonce: Buffer.from(walletNonce).toString('hex'), targets })));
    await waitFor(() => frames.some((f) => f.t === 'challenge'), 'a challenge');
    const gatewayNonce = frames.find((f) => f.t === 'challenge')!.gatewayNonce as string;
    return { conn, walletNonce, frames, gatewayNonce, fk: connFrameKey(walletCred, conn, walletNonce, gatewayNonce) };
  }

  test('the digest binds the connection id: a proof for one connection does not verify for another', async () => {
    const g = randomBytes(32);
    const w = randomBytes(32);
    const [x, y] = [randomUUID(), randomUUID()];
    const s = secp256k1.sign(challengeDigest(x, 'acme', g, w), key.sk, { prehash: false, format: 'recovered' });
    const recovered = secp256k1.recoverPublicKey(s, challengeDigest(y, 'acme', g, w), { prehash: false });
    expect(addressMatchesKey(key.addr.eth, recovered)).toBe(false);
    expect(Buffer.from(challengeDigest(x, 'acme', g, w)).equals(Buffer.from(challengeDigest(x, 'other', g, w)))).toBe(false);

    // On the wire: the key holder signs this connection's challenge as if it were for another
    // connection (what a relayed challenge would get out of it). The gateway refuses the proof.
    const other = newKey();
    const y1 = await rawHello([other.addr.eth]);
    const relayed = secp256k1.sign(challengeDigest(randomUUID(), 'acme', Buffer.from(y1.gatewayNonce, 'hex'), y1.walletNonce), other.sk, { prehash: false, format: 'recovered' });
    const proof = { address: other.addr.eth, signature: Buffer.from(relayed.subarray(1)).toString('hex'), recovery: relayed[0]! };
    await attacker.xadd(keys.hello(), '*', 'f', sealForGateway(y1.fk, y1.conn, { t: 'prove', conn: y1.conn, round: 0, proofs: [proof] }));
    await waitFor(() => y1.frames.some((f) => f.t === 'error'), 'the refusal');
    expect(y1.frames.find((f) => f.t === 'error')).toMatchObject({ code: 'E_FORBIDDEN' });

    // The same key proving its own connection's challenge is accepted.
    const z = await rawHello([other.addr.eth]);
    const own = secp256k1.sign(challengeDigest(z.conn, 'acme', Buffer.from(z.gatewayNonce, 'hex'), z.walletNonce), other.sk, { prehash: false, format: 'recovered' });
    const good = { address: other.addr.eth, signature: Buffer.from(own.subarray(1)).toString('hex'), recovery: own[0]! };
    await attacker.xadd(keys.hello(), '*', 'f', sealForGateway(z.fk, z.conn, { t: 'prove', conn: z.conn, round: 0, proofs: [good] }));
    await waitFor(() => z.frames.some((f) => f.t === 'welcome'), 'the welcome');
    expect(z.frames.find((f) => f.t === 'welcome')).toMatchObject({ accepted: [other.addr.eth] });
  });

  test('a proof not sealed under the connection key is refused', async () => {
    const k = newKey();
    const c = await rawHello([k.addr.eth]);
    const s = secp256k1.sign(challengeDigest(c.conn, 'acme', Buffer.from(c.gatewayNonce, 'hex'), c.walletNonce), k.sk, { prehash: false, format: 'recovered' });
    const prove = { t: 'prove', conn: c.conn, round: 0, proofs: [{ address: k.addr.eth, signature: Buffer.from(s.subarray(1)).toString('hex'), recovery: s[0]! }] };
    await attacker.xadd(keys.hello(), '*', 'f', JSON.stringify(prove));
    await waitFor(() => c.frames.some((f) => f.t === 'error'), 'the refusal');
    expect(c.frames.find((f) => f.t === 'error')).toMatchObject({ code: 'E_UNAUTHORIZED' });
    expect(await attacker.smembers(keys.route('addr', 'acme', k.addr.eth))).toEqual([]);
  });
});
