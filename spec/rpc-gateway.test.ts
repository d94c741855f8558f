// /rpc/v0: sophon-gateway's JSON-RPC API on a node's HTTP endpoint (auth on), called as a Venus
// component would call it, with plain fetch (HTTP POST) and a `ws` WebSocket: WalletHas, WalletSign for
// every Venus MsgMeta type (each signature checked with @noble/curves over blake2b-256 of what a Venus
// wallet signs, a chain message's also with @zondax/filecoin-signing-tools), by a connected wallet and
// by a vault of the node; the proof methods against a ProofWorkerConnector; auth refusals with HTTP
// 401/403 and their JSON-RPC codes; malformed JSON-RPC; batches; many calls at once on one socket.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import WebSocket from 'ws';
import type { HwayClient } from '../actors/client.js';
import { GatewayClient, WalletConnector, localKeyWallet } from '../actors/gateway/index.js';
import { ProofWorkerConnector } from '../actors/gateway/proof-connector.js';
import type { JsonValue } from '../actors/gateway/frames.js';
import { TokenService } from '../actors/gateway/tokens.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { addressesOf, filAddress } from '../enclaves/addresses.js';
import { quietLogger } from './helpers/cli.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { REDIS, testCluster } from './helpers/node.js';
import { chainMessage, samples, zondax, type Sample } from './fixtures/venus-samples.js';

const cluster = testCluster('rpc-gw', 4);
const secret = randomBytes(32).toString('hex');
const ACCOUNT = 'venus';
let node: HwayNode;
let url: string;
let tokens: TokenService;
let producer: HwayClient;
let wallet: WalletConnector;
let worker: ProofWorkerConnector;
const cred: Record<'sign' | 'read' | 'other' | 'wallet', string> = { sign: '', read: '', other: '', wallet: '' };
const sk = secp256k1.utils.randomSecretKey();
const mine = addressesOf(secp256k1.getPublicKey(sk, false));
const stranger = addressesOf(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false));
let vault: { fil: string };
// Proof requests for miner f01001 wait here until the test lets them go.
let releaseHeld: () => void = () => undefined;
const held = new Promise<void>((r) => (releaseHeld = r));

/** Raw sockets left open at the end, which the node's stop must close. */
const lingering: Socket[] = [];
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const proofOf = (randomness: Uint8Array, miner: string): string => createHash('sha256').update(randomness).update(miner).digest('base64');

beforeAll(async () => {
  node = cluster.node({ http: { port: 0 }, tokenSecret: secret, logger: quietLogger() });
  await node.start();
  url = (await node.stats()).http!.url;
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  const issue = async (account: string, perm: 'read' | 'sign'): Promise<string> => (await tokens.issue({ account, perm, ttlSec: 3600 })).token;
  [cred.sign, cred.read, cred.other, cred.wallet] = await Promise.all([issue(ACCOUNT, 'sign'), issue(ACCOUNT, 'read'), issue('elsewhere', 'sign'), issue(ACCOUNT, 'sign')]);
  wallet = new WalletConnector({ redis: REDIS, prefix: cluster.prefix, token: cred.wallet, logger: quietLogger(), ...localKeyWallet([sk], { form: 'fil', filNetwork: 'f' }) });
  worker = new ProofWorkerConnector({
    redis: REDIS,
    prefix: cluster.prefix,
    token: cred.wallet,
    logger: quietLogger(),
    miners: ['f01000', 'f01001'],
    // A PoStProof list, as a Venus proof worker answers ([]builtin.PoStProof).
    onProof: async ({ miner, sectorInfos, randomness }): Promise<JsonValue> => {
      if (miner === 'f01001') await held;
      return [{ PoStProof: 8, ProofBytes: proofOf(randomness, miner) }, { Sectors: sectorInfos }];
    },
  });
  producer = cluster.client({ token: cred.sign });
  const [w, , v] = await Promise.all([wallet.connect(), worker.connect(), producer.vault.generate('rpc-vault-1')]);
  expect(w.accepted).toEqual([mine.fil]);
  vault = { fil: v.addresses.fil };
});

afterAll(async () => {
  releaseHeld();
  await wallet?.close();
  await worker?.close();
  await tokens?.close();
  await cluster.cleanup();
  // The node's stop ended every upgraded socket, however silent its peer.
  await Promise.all(lingering.map((s) => (s.closed ? undefined : once(s, 'close'))));
});

// ---- the client side ----

interface RpcAnswer {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function post(body: string, token: string | null = cred.sign, headers: Record<string, string> = {}): Promise<RpcAnswer> {
  const res = await fetch(`${url}/rpc/v0`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

let nextId = 1;
function call(method: string, params: unknown[], token: string | null = cred.sign): Promise<RpcAnswer> {
  return post(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }), token);
}

/** The result of a call that must succeed (status 200, no error). */
async function result(method: string, params: unknown[], token?: string | null): Promise<unknown> {
  const a = await call(method, params, token);
  expect({ status: a.status, error: a.json.error }).toEqual({ status: 200, error: undefined });
  expect(a.json.jsonrpc).toBe('2.0');
  return a.json.result;
}

const signParams = (address: string, s: Pick<Sample, 'type' | 'toSign' | 'extra'>): unknown[] => [address, b64(s.toSign), { Type: s.type, Extra: s.extra ? b64(s.extra) : null }];

/** A crypto.Signature {Type: 1, Data: base64 r‖s‖v} by the key of `fil` over blake2b-256(signBytes). */
function expectSignature(sig: unknown, signBytes: Uint8Array, fil: string): void {
  const s = sig as { Type: number; Data: string };
  expect(s.Type).toBe(1);
  const data = Buffer.from(s.Data, 'base64');
  expect(data.length).toBe(65);
  expect([0, 1]).toContain(data[64]);
  const digest = blake2b(signBytes, { dkLen: 32 });
  const recoverable = new Uint8Array(65);
  recoverable[0] = data[64]!;
  recoverable.set(data.subarray(0, 64), 1);
  const pub = secp256k1.recoverPublicKey(recoverable, digest, { prehash: false });
  expect(secp256k1.verify(data.subarray(0, 64), digest, pub, { prehash: false })).toBe(true);
  expect(filAddress(pub, 'f')).toBe(fil);
}

describe('HTTP POST', () => {
  test('WalletHas: true for a connected wallet of the account, false otherwise; the newer v0 form with an account', async () => {
    expect(await result('Gateway.WalletHas', [mine.fil])).toBe(true);
    expect(await result('Gateway.WalletHas', [`t${mine.fil.slice(1)}`])).toBe(true);
    expect(await result('Gateway.WalletHas', [stranger.fil])).toBe(false);
    // Another account's credential does not reach this account's wallet.
    expect(await result('Gateway.WalletHas', [mine.fil], cred.other)).toBe(false);
    expect(await result('Gateway.WalletHas', [ACCOUNT, mine.fil])).toBe(true);
    const wrong = await call('Gateway.WalletHas', ['elsewhere', mine.fil]);
    expect([wrong.status, wrong.json.error.code, wrong.json.error.data.code]).toEqual([403, -32003, 'E_FORBIDDEN']);
  });

  test('WalletSign: every Venus MsgMeta type, signed by a connected wallet as a Venus wallet signs it', async () => {
    const all = samples(mine.fil, stranger.fil);
    for (const s of all) {
      const sig = await result('Gateway.WalletSign', signParams(mine.fil, s));
      expectSignature(sig, s.signBytes, mine.fil);
      if (s.type === 'message') expect(zondax.verifySignature((sig as { Data: string }).Data, s.serializedHex!)).toBe(true);
    }
    // The newer v0 form names the account first.
    const m = all.find((s) => s.type === 'message')!;
    expectSignature(await result('Gateway.WalletSign', [ACCOUNT, ...signParams(mine.fil, m)]), m.signBytes, mine.fil);
  });

  test('WalletSign refuses what Venus refuses: a toSign that is not the CID of Extra, a message from another address, verifyaddress, unknown types', async () => {
    const m = chainMessage(mine.fil, stranger.fil, 11);
    const other = chainMessage(mine.fil, stranger.fil, 12);
    const refusal = async (params: unknown[]): Promise<[number, number, string]> => {
      const a = await call('Gateway.WalletSign', params);
      return [a.status, a.json.error?.code, a.json.error?.data?.code];
    };
    expect(await refusal([mine.fil, b64(other.toSign), { Type: 'message', Extra: b64(m.extra) }])).toEqual([200, -32602, 'E_BAD_PAYLOAD']);
    expect(await refusal([mine.fil, b64(m.toSign), { Type: 'message', Extra: null }])).toEqual([200, -32602, 'E_BAD_PAYLOAD']);
    const theirs = chainMessage(stranger.fil, mine.fil);
    expect(await refusal([mine.fil, b64(theirs.toSign), { Type: 'message', Extra: b64(theirs.extra) }])).toEqual([403, -32003, 'E_FORBIDDEN']);
    expect(await refusal([mine.fil, b64(randomBytes(32)), { Type: 'verifyaddress', Extra: b64(randomBytes(32)) }])).toEqual([200, -32602, 'E_BAD_PAYLOAD']);
    expect(await refusal([mine.fil, b64(randomBytes(32)), { Type: 'nosuchtype' }])).toEqual([200, -32602, 'E_BAD_PAYLOAD']);
    expect(await refusal([mine.fil, b64(randomBytes(32)), {}])).toEqual([200, -32602, 'E_BAD_PAYLOAD']);
    // Go matches JSON field names case-insensitively: so does the door.
    expectSignature(await result('Gateway.WalletSign', [mine.fil, b64(m.toSign), { type: 'message', extra: b64(m.extra) }]), m.toSign, mine.fil);
    // Nobody in this account serves that address.
    expect(await refusal([stranger.fil, b64(randomBytes(8)), { Type: 'unknown' }])).toEqual([200, -32004, 'E_NO_WALLET']);
  });

  test("a vault of the node signs Venus types too, and the gateway's vault path checks a message's Extra", async () => {
    const m = chainMessage(vault.fil, stranger.fil);
    const sig = await result('Gateway.WalletSign', [vault.fil, b64(m.toSign), { Type: 'message', Extra: b64(m.extra) }]);
    expectSignature(sig, m.toSign, vault.fil);
    expect(zondax.verifySignature((sig as { Data: string }).Data, m.serializedHex)).toBe(true);
    const block = samples(vault.fil, stranger.fil).find((s) => s.type === 'block')!;
    expectSignature(await result('Gateway.WalletSign', signParams(vault.fil, block)), block.signBytes, vault.fil);
    // A producer through Redis, past the RPC door's own check: the gateway refuses before the vault signs.
    const gc = new GatewayClient({ redis: REDIS, prefix: cluster.prefix, token: cred.sign, timeoutMs: HANG_MS });
    try {
      const other = chainMessage(vault.fil, stranger.fil, 99);
      await expect(gc.walletSign(vault.fil, other.toSign, { type: 'venus-message', extra: b64(m.extra) })).rejects.toMatchObject({ code: 'E_BAD_PAYLOAD' });
    } finally {
      await gc.close();
    }
  });

  test('ListConnectedMiners, ListMinerConnection and ComputeProof reach the proof worker', async () => {
    expect(await result('Gateway.ListConnectedMiners', [])).toEqual(['f01000', 'f01001']);
    expect(await result('Gateway.ListConnectedMiners', [], cred.other)).toEqual([]);
    expect(await result('Gateway.ListMinerConnection', ['f01000'])).toEqual({
      Connections: [{ Addrs: ['f01000'], ChannelId: worker.id, Ip: '', RequestCount: 0, CreateTime: '0001-01-01T00:00:00Z' }],
      ConnectionCount: 1,
    });
    expect(await result('Gateway.ListMinerConnection', ['f09999'])).toEqual({ Connections: [], ConnectionCount: 0 });
    const rand = new Uint8Array(randomBytes(32));
    const sectors = [{ SealProof: 8, SectorNumber: 9, SealedCID: { '/': 'bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4' } }];
    expect(await result('Gateway.ComputeProof', ['f01000', sectors, b64(rand)])).toEqual([{ PoStProof: 8, ProofBytes: proofOf(rand, 'f01000') }, { Sectors: sectors }]);
    const none = await call('Gateway.ComputeProof', ['f02000', [], b64(rand)]);
    expect([none.status, none.json.error.code, none.json.error.data.code]).toEqual([200, -32004, 'E_NO_WALLET']);
    const bad = await call('Gateway.ComputeProof', ['not-a-miner', [], b64(rand)]);
    expect([bad.status, bad.json.error.code]).toEqual([500, -32602]);
  });
});

describe('auth', () => {
  test('no or a bad credential: HTTP 401 with -32001; too few permissions: 403 with -32003', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletHas', params: [mine.fil] });
    const jwt = cred.sign.slice(0, cred.sign.lastIndexOf('.'));
    const refusals: Array<[string, Promise<RpcAnswer>]> = [
      ['no header', post(body, null)],
      ['bare JWT', post(body, jwt)],
      ['wrong request key', post(body, `${jwt}.${randomBytes(32).toString('base64url')}`)],
      ['not a bearer', post(body, null, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })],
    ];
    for (const [what, p] of refusals) {
      const a = await p;
      expect({ what, status: a.status, code: a.json.error.code, data: a.json.error.data }).toEqual({ what, status: 401, code: -32001, data: { code: 'E_UNAUTHORIZED' } });
    }
    // A read credential may ask, not sign nor compute.
    expect(await result('Gateway.WalletHas', [mine.fil], cred.read)).toBe(true);
    for (const [method, params] of [
      ['Gateway.WalletSign', [mine.fil, b64(randomBytes(8)), { Type: 'unknown' }]],
      ['Gateway.ComputeProof', ['f01000', [], b64(randomBytes(32))]],
    ] as const) {
      const a = await call(method, [...params], cred.read);
      expect({ method, status: a.status, code: a.json.error.code, data: a.json.error.data.code }).toEqual({ method, status: 403, code: -32003, data: 'E_FORBIDDEN' });
    }
  });

  test('a WebSocket upgrade without a valid credential is refused before it opens', async () => {
    for (const headers of [{}, { authorization: `Bearer ${cred.sign.slice(0, cred.sign.lastIndexOf('.'))}` }]) {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/rpc/v0`, { headers });
      const res = await new Promise<IncomingMessage | 'opened'>((resolve, reject) => {
        ws.on('unexpected-response', (_req, r) => resolve(r));
        ws.on('open', () => resolve('opened'));
        ws.on('error', reject);
      });
      if (res === 'opened') {
        ws.terminate();
        throw new Error('the socket opened without a credential');
      }
      let text = '';
      for await (const chunk of res) text += String(chunk);
      expect([res.statusCode, JSON.parse(text).error.code]).toEqual([401, -32001]);
      ws.terminate();
    }
  });
});

describe('upgrades', () => {
  /** A raw client's upgrade request; resolves with what it read when the server closes it, or at the first line. */
  function rawUpgrade(path: string, auth?: string): { socket: Socket; firstLine: Promise<string>; closed: Promise<void> } {
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    let text = '';
    const firstLine = new Promise<string>((resolve) => {
      socket.on('data', (d) => {
        text += String(d);
        if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
      });
      socket.on('close', () => resolve(text));
    });
    const closed = once(socket, 'close').then(() => undefined);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\n${auth ? `Authorization: Bearer ${auth}\r\n` : ''}Connection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
    return { socket, firstLine, closed };
  }

  test('an upgrade of another path is closed at once; one of /rpc/v0 whose peer never answers does not hold the node', async () => {
    for (const path of ['/healthz', '/nope']) {
      const u = rawUpgrade(path, cred.sign);
      await u.closed;
      expect(await u.firstLine).toBe('');
    }
    // Upgraded, then silent: left open on purpose, so that the node's stop in afterAll must end it
    // (a regression would hang there, failing the run).
    const silent = rawUpgrade('/rpc/v0', cred.sign);
    expect(await silent.firstLine).toBe('HTTP/1.1 101 Switching Protocols');
    lingering.push(silent.socket);
  });
});

describe('malformed JSON-RPC', () => {
  test('parse errors, invalid requests, unknown methods and bad params get their standard codes', async () => {
    const cases: Array<[string, string, number, number]> = [
      ['not JSON', '{"jsonrpc":"2.0",', 500, -32700],
      ['empty body', '', 400, -32600],
      ['no method', JSON.stringify({ jsonrpc: '2.0', id: 1, params: [] }), 400, -32600],
      ['no jsonrpc', JSON.stringify({ id: 1, method: 'Gateway.WalletHas', params: [mine.fil] }), 400, -32600],
      ['not an object', '42', 400, -32600],
      ['bad id', JSON.stringify({ jsonrpc: '2.0', id: { x: 1 }, method: 'Gateway.WalletHas', params: [mine.fil] }), 400, -32600],
      ['empty batch', '[]', 400, -32600],
      ['unknown method', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.NoSuchMethod', params: [] }), 500, -32601],
      ['an inherited name', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'constructor', params: [] }), 500, -32601],
      ['wrong param count', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletHas', params: [] }), 500, -32602],
      ['params not an array', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletHas', params: { addr: mine.fil } }), 500, -32602],
      ['not an address', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletHas', params: ['f1nope'] }), 500, -32602],
      ['toSign not base64', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletSign', params: [mine.fil, 'not base64!', { Type: 'unknown' }] }), 500, -32602],
      ['meta not an object', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletSign', params: [mine.fil, '', 'message'] }), 500, -32602],
    ];
    for (const [what, body, status, code] of cases) {
      const a = await post(body);
      expect({ what, status: a.status, jsonrpc: a.json.jsonrpc, code: a.json.error.code, hasResult: 'result' in a.json }).toEqual({ what, status, jsonrpc: '2.0', code, hasResult: false });
    }
    // The id is echoed once it could be read; null before that.
    expect((await post(JSON.stringify({ jsonrpc: '2.0', id: 'x-7', method: 'Gateway.NoSuchMethod' }))).json.id).toBe('x-7');
    expect((await post('{')).json.id).toBeNull();
  });

  test('a batch is answered in order, notifications left out; a lone notification gets no body', async () => {
    const a = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 'a', method: 'Gateway.WalletHas', params: [mine.fil] },
        { jsonrpc: '2.0', method: 'Gateway.WalletHas', params: [mine.fil] },
        { jsonrpc: '2.0', id: 'c', method: 'Gateway.Nope', params: [] },
        5,
        { jsonrpc: '2.0', id: 'e', method: 'Gateway.ListConnectedMiners', params: [] },
      ]),
    );
    expect(a.status).toBe(200);
    expect(a.json).toEqual([
      { jsonrpc: '2.0', id: 'a', result: true },
      { jsonrpc: '2.0', id: 'c', error: { code: -32601, message: "method 'Gateway.Nope' not found", data: { code: 'E_BAD_INPUT' } } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'a request must be a JSON object', data: { code: 'E_BAD_INPUT' } } },
      { jsonrpc: '2.0', id: 'e', result: ['f01000', 'f01001'] },
    ]);
    const n = await post(JSON.stringify({ jsonrpc: '2.0', method: 'Gateway.WalletHas', params: [mine.fil] }));
    expect([n.status, n.json]).toEqual([200, undefined]);
  });
});

interface WsAnswer {
  id: unknown;
  result?: unknown;
  error?: { code: number; data?: { code: string } };
}

/** The answers arriving on `ws`, by id. */
function socketAnswers(ws: WebSocket): Map<unknown, WsAnswer> {
  const answers = new Map<unknown, WsAnswer>();
  ws.on('message', (d) => {
    const a = JSON.parse(String(d)) as WsAnswer;
    answers.set(a.id, a);
  });
  return answers;
}

describe('WebSocket', () => {
  test('many calls at once on one socket, each answered by its id when it ends', async () => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/rpc/v0`, { headers: { authorization: `Bearer ${cred.sign}` } });
    await once(ws, 'open');
    const answers = socketAnswers(ws);
    try {
      // A proof that waits until released: the calls sent after it are answered first.
      const rand = new Uint8Array(randomBytes(32));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'held', method: 'Gateway.ComputeProof', params: ['f01001', [], b64(rand)] }));
      const all = samples(mine.fil, stranger.fil);
      all.forEach((s, i) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'Gateway.WalletSign', params: signParams(mine.fil, s) })));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'has', method: 'Gateway.WalletHas', params: [mine.fil] }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'nope', method: 'Gateway.Nope', params: [] }));
      ws.send('{ not json');
      await pollUntil(() => answers.size === all.length + 3, 'the answers of every call but the held one');
      expect(answers.has('held')).toBe(false);
      all.forEach((s, i) => expectSignature(answers.get(i)!.result, s.signBytes, mine.fil));
      expect(answers.get('has')!.result).toBe(true);
      expect(answers.get('nope')!.error!.code).toBe(-32601);
      expect(answers.get(null)!.error!.code).toBe(-32700);
      releaseHeld();
      await pollUntil(() => answers.has('held'), 'the held proof');
      expect(answers.get('held')!.result).toEqual([{ PoStProof: 8, ProofBytes: proofOf(rand, 'f01001') }, { Sectors: [] }]);
    } finally {
      ws.close();
    }
  });

  test('each call on a socket needs its permission: a read credential asks but cannot sign', async () => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/rpc/v0`, { headers: { authorization: `Bearer ${cred.read}` } });
    await once(ws, 'open');
    const answers = socketAnswers(ws);
    try {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Gateway.WalletSign', params: [mine.fil, b64(randomBytes(8)), { Type: 'unknown' }] }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'Gateway.WalletHas', params: [mine.fil] }));
      await pollUntil(() => answers.size === 2, 'both answers');
      expect(answers.get(1)!.error).toMatchObject({ code: -32003, data: { code: 'E_FORBIDDEN' } });
      expect(answers.get(2)!.result).toBe(true);
    } finally {
      ws.close();
    }
  });
});
