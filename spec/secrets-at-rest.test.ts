// Secrets at rest (DESIGN.md, "Trust model: Redis is untrusted"): a Redis server of our own (AOF,
// fsync always, no RDB) serves a node with auth on while the demo runs (generate, sign, refresh,
// export, import, an import with a wrong password that ends as a dead letter, a wallet and a vault
// signing through the gateway). Then everything Redis holds or was told is searched for every secret
// of the run, raw and in hex, HEX, base64 and base64url (./helpers/secret-scan.ts): every key of every
// type, every file the AOF wrote (each write, including since-deleted ones), and every command Redis
// received (MONITOR: PUBLISH and script arguments included). No password, credential, request key,
// token secret, master key or private key may be found anywhere.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { deriveRequestKey, parseCredential } from '../actors/credential.js';
import { localKeyWallet, WalletConnector } from '../actors/gateway/connector.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { Keys } from '../actors/ingress/keys.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { createNode, type NodeInternals as HwayNode } from '../actors/node.js';
import { addressesOf } from '../enclaves/addresses.js';
import { AofRedis } from './helpers/aof-redis.js';
import { freePort, quietLogger } from './fixtures/ingress-helpers.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { openOnHost } from './helpers/oracle.js';
import { HANG_ONLY } from './helpers/redis.js';
import { describeHits, findSecrets, patternsOf, secretOf, type Haystack, type Secret } from './helpers/secret-scan.js';

const P = 8;
const prefix = `hwt-atrest-${randomBytes(3).toString('hex')}`;
const keys = new Keys(prefix);
const masterKey = randomBytes(32);
const tokenSecret = randomBytes(32).toString('hex'); // the secret is these 64 characters (as the node reads it)
const password = `export-${randomBytes(12).toString('base64url')}`;
const wrongPassword = `wrong-${randomBytes(12).toString('base64url')}`;
const digest = createHash('sha256').update('secrets at rest').digest();
const wrongTaskId = randomUUID();

let dir: string;
let dataDir: string;
let port: number;
let url: string;
let server: AofRedis | undefined;
let monitor: Monitor | undefined;
let node: HwayNode | undefined;
let tokens: TokenService | undefined;
let producer: HwayClient | undefined;
let wallet: WalletConnector | undefined;
let producerCred: string;
let producerJti: string;
let walletCred: string;
let walletConnected = false;

/** Every secret of the run, added as the scenario makes them. */
const secrets: Secret[] = [];
/** What the scenario stored, to check that the scan really sees the node's writes. */
const sealed = new Map<string, Uint8Array>();

// ---- a Redis server of our own ----

const startServer = (): Promise<void> => (server ??= new AofRedis(port, dir)).start();
const killServer = (): Promise<void> => server?.kill() ?? Promise.resolve();

// ---- MONITOR: every command Redis receives, from clients and from scripts ----

interface Monitor {
  lines(): Buffer[];
  close(): Promise<void>;
}

/** A raw MONITOR connection (each reply is `+<line>\r\n`, the arguments escaped as Redis's sdscatrepr does). */
function startMonitor(p: number): Promise<Monitor> {
  return new Promise((resolve, reject) => {
    const sock: Socket = netConnect({ port: p, host: '127.0.0.1' });
    const lines: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let ok = false;
    sock.on('error', (e) => {
      if (!ok) reject(e);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.subarray(0, nl);
        buf = buf.subarray(nl + 2);
        if (!ok) {
          if (line.toString() !== '+OK') return reject(new Error(`MONITOR answered ${line.toString()}`));
          ok = true;
          resolve({
            lines: () => lines,
            close: () => new Promise<void>((r) => (sock.destroyed ? r() : (sock.once('close', () => r()), sock.end()))),
          });
        } else {
          lines.push(Buffer.from(line.subarray(1)));
        }
      }
    });
    sock.on('connect', () => sock.write('MONITOR\r\n'));
  });
}

/** Undoes sdscatrepr: `\xHH`, `\n`, `\r`, `\t`, `\a`, `\b`, `\\` and `\"` back to the bytes they stand for. */
function unrepr(line: Buffer): Buffer {
  const out: number[] = [];
  const esc: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, '\\': 92, '"': 34 };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c !== 92 || i + 1 >= line.length) {
      out.push(c);
      continue;
    }
    const n = String.fromCharCode(line[i + 1]!);
    if (n === 'x' && i + 3 < line.length && /^[0-9a-f]{2}$/i.test(line.subarray(i + 2, i + 4).toString())) {
      out.push(parseInt(line.subarray(i + 2, i + 4).toString(), 16));
      i += 3;
    } else if (esc[n] !== undefined) {
      out.push(esc[n]!);
      i += 1;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out);
}

// ---- what Redis holds ----

function flatten(v: unknown, out: Buffer[] = []): Buffer[] {
  if (Buffer.isBuffer(v)) out.push(v);
  else if (Array.isArray(v)) for (const x of v) flatten(x, out);
  else if (v !== null && v !== undefined) out.push(Buffer.from(String(v)));
  return out;
}

interface KeyScan {
  haystacks: Haystack[];
  /** key name → type and its elements (a hash as field → value). */
  keys: Map<string, { type: string; elements: Buffer[]; hash?: Map<string, Buffer> }>;
  unreadable: string[];
}

/** SCAN every key and read it whole, whatever its type. */
async function scanKeys(r: Redis): Promise<KeyScan> {
  const scan: KeyScan = { haystacks: [], keys: new Map(), unreadable: [] };
  let cursor = '0';
  do {
    const [next, batch] = await r.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    for (const keyBuf of batch) {
      const key = keyBuf.toString('latin1');
      if (scan.keys.has(key)) continue; // SCAN may return a key twice
      const type = await r.type(keyBuf);
      let reply: unknown;
      switch (type) {
        case 'none':
          continue; // expired between SCAN and TYPE
        case 'string':
          reply = await r.callBuffer('GET', keyBuf);
          break;
        case 'hash':
          reply = await r.callBuffer('HGETALL', keyBuf);
          break;
        case 'stream':
          reply = await r.callBuffer('XRANGE', keyBuf, '-', '+');
          break;
        case 'zset':
          reply = await r.callBuffer('ZRANGE', keyBuf, '0', '-1', 'WITHSCORES');
          break;
        case 'set':
          reply = await r.callBuffer('SMEMBERS', keyBuf);
          break;
        case 'list':
          reply = await r.callBuffer('LRANGE', keyBuf, '0', '-1');
          break;
        default:
          scan.unreadable.push(`${key} (${type})`);
          continue;
      }
      const elements = flatten(reply);
      const entry: { type: string; elements: Buffer[]; hash?: Map<string, Buffer> } = { type, elements };
      scan.haystacks.push({ source: `key name ${key}`, bytes: keyBuf });
      if (type === 'hash') {
        entry.hash = new Map();
        for (let i = 0; i + 1 < elements.length; i += 2) {
          entry.hash.set(elements[i]!.toString('latin1'), elements[i + 1]!);
          scan.haystacks.push({ source: `key ${key} (hash) field name #${i / 2}`, bytes: elements[i]! });
          scan.haystacks.push({ source: `key ${key} (hash) field ${elements[i]!.toString('latin1')}`, bytes: elements[i + 1]! });
        }
      } else {
        elements.forEach((e, i) => scan.haystacks.push({ source: `key ${key} (${type}) element #${i}`, bytes: e }));
      }
      scan.keys.set(key, entry);
    }
  } while (cursor !== '0');
  return scan;
}

/** Every file under `root` (the AOF directory of Redis 7 and its manifest, or an older single file). */
function filesUnder(root: string): Haystack[] {
  const out: Haystack[] = [];
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ source: `file ${relative(dir, path)}`, bytes: readFileSync(path) });
  }
  return out;
}

/** The JWTs (`eyJ…` header, payload and signature) in some bytes, with their ids. */
function jwtsIn(haystacks: Haystack[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const h of haystacks) {
    for (const m of Buffer.from(h.bytes).toString('latin1').matchAll(/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) {
      try {
        const claims = JSON.parse(Buffer.from(m[0].split('.')[1]!, 'base64url').toString()) as { jti?: unknown };
        if (typeof claims.jti === 'string') found.set(m[0], claims.jti);
      } catch {
        // not a JWT after all
      }
    }
  }
  return found;
}

/** Fails with `what` if `p` never settles (a hang-only deadline, inside jest's testTimeout). */
async function hangGuard<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${HANG_MS} ms waiting for ${what} (a hang-only deadline)`)), HANG_MS)));
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const requestKeyOf = (credential: string): Uint8Array => parseCredential(credential).requestKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hway-atrest-redis-'));
  dataDir = mkdtempSync(join(tmpdir(), 'hway-atrest-node-'));
  port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  await startServer();
  monitor = await startMonitor(port);

  node = createNode({
    redis: url,
    prefix,
    partitions: P,
    dataDir,
    masterKeys: `1:${masterKey.toString('hex')}`,
    tokenSecret,
    // Argon2id exports are seconds of CPU, more on a busy machine: the enclave timeout is hang-only.
    enclaveTimeoutMs: HANG_MS,
    logger: quietLogger(),
  });
  await node.start();
  tokens = new TokenService({ redis: url, secret: tokenSecret, prefix, subscribe: false, logger: quietLogger() });
  ({ token: producerCred, jti: producerJti } = await tokens.issue({ account: 'acme', perm: 'admin', ttlSec: 3600 }));
  walletCred = (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 3600 })).token;
  producer = new HwayClient({ redis: url, prefix, partitions: P, token: producerCred, callTimeoutMs: HANG_MS, ...HANG_ONLY });

  secrets.push(
    secretOf('export password', password),
    secretOf('wrong import password', wrongPassword),
    secretOf('producer credential', producerCred),
    secretOf('producer request key', requestKeyOf(producerCred)),
    secretOf('wallet credential', walletCred),
    secretOf('wallet request key', requestKeyOf(walletCred)),
    secretOf('token secret (as configured)', tokenSecret),
    secretOf('token secret (its bytes as hex-decoded)', Buffer.from(tokenSecret, 'hex')),
    secretOf('master key', masterKey),
  );
});

afterAll(async () => {
  await wallet?.close().catch(() => undefined);
  await producer?.close().catch(() => undefined);
  await tokens?.close().catch(() => undefined);
  await node?.stop().catch(() => undefined);
  await monitor?.close();
  await killServer();
  for (const d of [dir, dataDir]) if (d) rmSync(d, { recursive: true, force: true });
});

test('the search finds a secret in every encoding and alignment (the scan can fail)', () => {
  const s = randomBytes(32);
  const lead = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('ab')];
  const forms: Array<[string, (b: Buffer) => string]> = [
    ['raw', (b) => b.toString('latin1')],
    ['hex', (b) => b.toString('hex')],
    ['HEX', (b) => b.toString('hex').toUpperCase()],
    ['base64', (b) => b.toString('base64')],
    ['base64url', (b) => b.toString('base64url')],
  ];
  for (const [encoding, enc] of forms) {
    for (const l of lead) {
      // The secret inside other data, at each offset modulo 3, then encoded as a whole.
      const stored = Buffer.from(`{"x":"${enc(Buffer.concat([l, s, Buffer.from('tail')]))}"}`, 'latin1');
      const hits = findSecrets([{ source: 'sample', bytes: stored }], [{ name: 's', bytes: s }]);
      expect(hits.map((h) => h.encoding)).toContain(encoding);
    }
  }
  expect(findSecrets([{ source: 'sample', bytes: randomBytes(4096) }], [{ name: 's', bytes: s }])).toEqual([]);
  expect(() => patternsOf(Buffer.from('short'))).toThrow();
});

test('the demo scenario runs against this Redis with auth on', async () => {
  const client = producer!;
  const v = await client.vault.generate('treasury');
  const sig = await client.vault.sign('treasury', digest);
  expect(secp256k1.verify(Buffer.from(sig.signature, 'hex'), digest, Buffer.from(v.publicKey, 'hex'), { prehash: false })).toBe(true);
  expect((await client.vault.verify(v.publicKey, digest, sig.signature)).valid).toBe(true);
  await client.vault.refresh('treasury');

  const { cid } = await client.vault.export('treasury', password);
  const copy = await client.vault.import(cid, 'treasury-copy', password);
  expect(copy.publicKey).toBe(v.publicKey);
  // A wrong password is permanent: no retry, the task is archived as a dead letter at once.
  await expect(client.vault.import(cid, 'treasury-wrong', wrongPassword, { id: wrongTaskId })).rejects.toMatchObject({ code: 'E_WRONG_PASSWORD' });

  // The private key, recovered the only way the host can (with the master key the test holds), from
  // the source vault and from the imported copy: one key.
  for (const id of ['treasury', 'treasury-copy']) {
    const record = (await node!.store.get(partitionOf(id, P), id))!;
    expect(record.account).toBe('acme');
    const priv = openOnHost(record.sealed, { vaultId: id, account: record.account }, masterKey);
    expect(priv).not.toBeNull();
    expect(Buffer.from(secp256k1.getPublicKey(priv!, true)).toString('hex')).toBe(v.publicKey);
    sealed.set(id, record.sealed);
    secrets.push(secretOf(`private key of vault ${id}`, priv!));
  }
});

// The gateway part (its frame formats may be mid-change elsewhere): kept apart, so that the scan
// below still runs over everything else if it fails. The wallet's key is a secret either way.
test('a wallet and a vault sign through the gateway', async () => {
  const sk = secp256k1.utils.randomSecretKey();
  secrets.push(secretOf('wallet private key', sk));
  const address = addressesOf(secp256k1.getPublicKey(sk, false)).eth;
  wallet = new WalletConnector({ redis: url, prefix, token: walletCred, logger: quietLogger(), handshakeTimeoutMs: HANG_MS, ...localKeyWallet([sk]) });
  const welcome = await hangGuard(wallet.connect(), 'the wallet to connect (handshake with the gateway)');
  expect(welcome.accepted).toContain(address);
  walletConnected = true;

  const r = await producer!.walletSign(address, digest, undefined, { timeoutMs: HANG_MS });
  expect(secp256k1.verify(Buffer.from(r.signature, 'hex'), digest, secp256k1.getPublicKey(sk, true), { prehash: false })).toBe(true);

  // A vault's address through the gateway: the node signs it under a credential of its own.
  const info = await producer!.vault.info('treasury');
  const viaVault = await producer!.walletSign(info.addresses.eth, digest, undefined, { timeoutMs: HANG_MS });
  expect(viaVault.via).toMatch(/^vault:treasury(-copy)?$/); // the copy holds the same key and address
  expect(secp256k1.verify(Buffer.from(viaVault.signature, 'hex'), digest, Buffer.from(info.publicKey, 'hex'), { prehash: false })).toBe(true);
});

test('no secret is in any Redis key, in the AOF, or in any command Redis received', async () => {
  expect(sealed.size).toBe(2); // the scenario ran (else there is little to search)

  // Everything stops first: what Redis holds now is all it will ever have been told by this run.
  await wallet?.close();
  await producer?.close();
  await tokens?.close();
  await node?.stop();
  wallet = producer = tokens = node = undefined;
  const r = new Redis(url, { maxRetriesPerRequest: null });
  // Redis feeds MONITOR in command order: once this marker has arrived, every earlier command has too.
  const marker = `end-of-run-${randomUUID()}`;
  await r.echo(marker);
  await pollUntil(() => monitor!.lines().some((l) => l.includes(marker)), 'the end-of-run marker on MONITOR');
  const commands = monitor!.lines().map((l, i) => ({ source: `command #${i} (MONITOR)`, bytes: unrepr(l) }));
  await monitor!.close();
  monitor = undefined;

  let scan: KeyScan;
  try {
    scan = await scanKeys(r);
  } finally {
    r.disconnect();
  }
  const files = filesUnder(dir);

  // ---- the scan sees what it should ----
  expect(scan.unreadable).toEqual([]);
  expect(commands.length).toBeGreaterThan(20);
  const aof = files.filter((f) => /\.aof$/.test(f.source));
  expect(files.some((f) => /appendonlydir\/.*\.manifest$/.test(f.source))).toBe(true);
  expect(aof.reduce((n, f) => n + f.bytes.length, 0)).toBeGreaterThan(0);
  for (const id of ['treasury', 'treasury-copy']) {
    const rec = scan.keys.get(`${keys.part(partitionOf(id, P))}vault:${id}`);
    expect(rec?.type).toBe('hash');
    expect(rec!.hash!.get('account')?.toString()).toBe('acme');
    // The same search that must find no secret finds the sealed data where the node wrote it.
    const s = { name: `sealed data of ${id}`, bytes: sealed.get(id)! };
    expect(findSecrets(scan.haystacks, [s]).map((h) => h.source)).toContain(`key ${keys.part(partitionOf(id, P))}vault:${id} (hash) field sealed`);
    expect(findSecrets(aof, [s]).length).toBeGreaterThan(0);
  }
  // The wrong-password import: a dead letter, whose task record holds only the sealed password box.
  const wp = partitionOf('treasury-wrong', P);
  expect(scan.keys.get(keys.dead(wp))?.elements.map((e) => e.toString())).toContain(wrongTaskId);
  const dead = scan.keys.get(keys.task(wp, wrongTaskId))?.hash;
  expect(dead?.get('st')?.toString()).toBe('archived');
  expect(dead?.get('err')?.toString()).toContain('E_WRONG_PASSWORD');
  expect(dead?.get('auth')?.toString()).toContain(parseCredential(producerCred).jwt);
  expect((JSON.parse(dead!.get('payload')!.toString()) as { password: string }).password).toMatch(/^x1\./);
  // The credentials' JWTs did travel (what the node checks): found as they are, in keys and the AOF.
  const producerJwt = { name: 'producer JWT', bytes: Buffer.from(parseCredential(producerCred).jwt) };
  for (const where of [scan.haystacks, aof, commands]) expect(findSecrets(where, [producerJwt]).length).toBeGreaterThan(0);
  // And the wallet's frames went through Redis and were searched (when the gateway part ran).
  if (walletConnected) expect(findSecrets(commands, [{ name: 'wallet JWT', bytes: Buffer.from(parseCredential(walletCred).jwt) }]).length).toBeGreaterThan(0);

  // ---- no secret anywhere ----
  // Besides the issued credentials: the request key of every JWT that reached Redis (the node's own
  // credentials included), derived as a node would.
  const everything = [...scan.haystacks, ...files, ...commands];
  const jwts = jwtsIn(everything);
  expect([...jwts.values()]).toEqual(expect.arrayContaining([producerJti]));
  const secretKey = new TextEncoder().encode(tokenSecret);
  const derived = [...new Set(jwts.values())].map((jti) => secretOf(`request key of token ${jti}`, deriveRequestKey(secretKey, jti)));
  const all = [...secrets, ...derived];
  console.log(
    `searched ${scan.keys.size} keys, ${files.length} AOF files (${aof.reduce((n, f) => n + f.bytes.length, 0)} bytes), ${commands.length} commands ` +
      `for ${all.length} secrets (${[...new Set(jwts.values())].length} tokens seen); private keys: ${secrets.filter((s) => /private key/.test(s.name)).length}`,
  );
  const hits = findSecrets(everything, all);
  expect(describeHits(hits)).toEqual([]);
});
