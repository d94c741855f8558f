// storage/ipfs.ts against real Helia nodes (no mocks): local round trip, restart from the same data
// dir, bitswap between two in-process nodes and with a peer in another process, and the error codes
// for a CID nobody has (E_NOT_FOUND after the timeout) and a malformed one (E_BAD_INPUT).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import winston from 'winston';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256, sha512 } from 'multiformats/hashes/sha2';

import { openIpfs, type IpfsStore } from '../storage/ipfs.js';
import { HwayError } from '../errors.js';
import { HANG_MS, NEVER_MS } from './helpers/deadlines.js';

// A fetch of content that exists (locally or from a connected peer) is ordinary work: its timeout is
// hang-only. Short timeouts appear only where the content does not exist and the timeout is the
// behaviour under test (E_NOT_FOUND).
const EXISTS = { timeoutMs: HANG_MS };

// Quiet logs: the module's own logging is exercised, but not printed over the test output.
const quiet = winston.createLogger({ silent: true });

const tmpDirs: string[] = [];
const stores: IpfsStore[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `hway-ipfs-${tag}-`));
  tmpDirs.push(d);
  return d;
}

async function open(opts: Parameters<typeof openIpfs>[0]): Promise<IpfsStore> {
  const s = await openIpfs({ logger: quiet, ...opts });
  stores.push(s);
  return s;
}

/** A syntactically valid CID (raw, sha2-256) of random bytes: content that nobody has. */
async function unknownCid(): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(randomBytes(32))).toString();
}

async function expectCode(p: Promise<unknown>, code: string): Promise<HwayError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HwayError);
    expect((e as HwayError).code).toBe(code);
    return e as HwayError;
  }
  throw new Error(`expected ${code}, got success`);
}

// A vault export is ~155 bytes of opaque ciphertext.
const exportBytes = (): Uint8Array => new Uint8Array(randomBytes(155));

let a: IpfsStore; // listens on 127.0.0.1
let b: IpfsStore; // no listener; dials a
let dirA: string;

beforeAll(async () => {
  dirA = tmpDir('a');
  const t0 = performance.now();
  a = await open({ dataDir: dirA, listen: ['/ip4/127.0.0.1/tcp/0'] });
  const t1 = performance.now();
  b = await open({ dataDir: tmpDir('b') });
  const t2 = performance.now();
  // Timings for the report (first open includes the lazy import of Helia and libp2p).
  process.stderr.write(`ipfs: first open (with import) ${(t1 - t0).toFixed(0)} ms, second open ${(t2 - t1).toFixed(0)} ms\n`);
});

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  // Nothing writes into a closed store's data dir (libp2p's peer store tries to, after stop).
  await new Promise((r) => setTimeout(r, 1500));
  expect(tmpDirs.filter((d) => fs.existsSync(d))).toEqual([]);
});

describe('local store', () => {
  test('put → get round trip returns the same bytes; the CID is a CIDv1 string', async () => {
    const data = exportBytes();
    const t0 = performance.now();
    const cid = await a.put(data);
    const t1 = performance.now();
    const back = await a.get(cid, EXISTS);
    const t2 = performance.now();
    process.stderr.write(`ipfs: local put ${(t1 - t0).toFixed(1)} ms, local get ${(t2 - t1).toFixed(1)} ms\n`);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(CID.parse(cid).version).toBe(1);
    expect(await a.hasLocal(cid)).toBe(true);
    // Content addressing: the same bytes give the same CID.
    expect(await a.put(data)).toBe(cid);
  });

  test('empty and multi-chunk payloads round trip too', async () => {
    const empty = new Uint8Array(0);
    expect((await a.get(await a.put(empty), EXISTS)).length).toBe(0);
    const big = new Uint8Array(randomBytes(600 * 1024)); // > one 256 KiB UnixFS chunk
    const back = await a.get(await a.put(big), EXISTS);
    expect(Buffer.from(back).equals(Buffer.from(big))).toBe(true);
    // maxBytes guards against buffering a huge file named by a hostile CID.
    await expectCode(a.get(await a.put(big), { ...EXISTS, maxBytes: 1024 }), 'E_BAD_INPUT');
  });

  test('Promise.withResolvers exists in this (jest VM) realm once ipfs.ts is imported', () => {
    expect(typeof (Promise as unknown as { withResolvers?: unknown }).withResolvers).toBe('function');
  });

  test('a Buffer or a foreign-realm Uint8Array can be put; anything else is E_BAD_INPUT', async () => {
    const buf = randomBytes(155);
    expect(Buffer.from(await a.get(await a.put(buf), EXISTS)).equals(buf)).toBe(true);
    const foreign = vm.runInNewContext('new Uint8Array([1, 2, 3])') as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect([...(await a.get(await a.put(foreign), EXISTS))]).toEqual([1, 2, 3]);
    await expectCode(a.put('text' as unknown as Uint8Array), 'E_BAD_INPUT');
  });

  test('a node without `listen` listens nowhere', () => {
    expect(b.multiaddrs()).toEqual([]);
  });

  test('multiaddrs() are on 127.0.0.1 and end in /p2p/<peerId>', () => {
    const addrs = a.multiaddrs();
    expect(addrs.length).toBeGreaterThan(0);
    for (const m of addrs) {
      expect(m.startsWith('/ip4/127.0.0.1/tcp/')).toBe(true);
      expect(m.endsWith(`/p2p/${a.peerId}`)).toBe(true);
    }
  });

  test('exports survive a restart of the same data dir (and the peer id is kept)', async () => {
    const dir = tmpDir('restart');
    const first = await openIpfs({ dataDir: dir, logger: quiet });
    const data = exportBytes();
    const cid = await first.put(data);
    const peerId = first.peerId;
    await first.close();
    await first.close(); // idempotent
    await expectCode(first.get(cid), 'E_CLOSED');

    expect(fs.existsSync(path.join(dir, 'ipfs'))).toBe(true);
    const second = await open({ dataDir: dir });
    expect(second.peerId).toBe(peerId);
    // This must come from disk: the store has it locally and has no peer to ask (without it, the get
    // would end in E_NOT_FOUND, not in the bytes).
    expect(second.connectedPeers()).toEqual([]);
    expect(await second.hasLocal(cid)).toBe(true);
    const back = await second.get(cid, EXISTS);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });
});

describe('errors', () => {
  test('a CID nobody has → E_NOT_FOUND when the timeout fires', async () => {
    const cid = await unknownCid();
    const t0 = performance.now();
    const err = await expectCode(a.get(cid, { timeoutMs: 1500 }), 'E_NOT_FOUND');
    const ms = performance.now() - t0;
    // Not before its timeout (a lower bound: a busy machine only makes it later)...
    expect(ms).toBeGreaterThanOrEqual(1400);
    // ...and because that timeout fired: E_NOT_FOUND is raised only when the get's own timer has
    // aborted it, and names that timer's duration (not a default one).
    expect(err.message).toContain(cid);
    expect(err.message).toContain('within 1500 ms');
    // That the get stops promptly once aborted cannot be told without a clock: a bound of 20× the
    // timeout, which only a get that ignores the abort (a near-hang) would exceed.
    expect(ms).toBeLessThan(20 * 1500);
  });

  test('a CID nobody has, asked of a connected peer → E_NOT_FOUND too', async () => {
    await b.dial(a.multiaddrs()[0]!, EXISTS);
    await expectCode(b.get(await unknownCid(), { timeoutMs: 1500 }), 'E_NOT_FOUND');
  });

  test.each(['', 'not-a-cid', 'bafkrei', 'Qm123', 'bafkreien4ibltqudyi3nuxjm2xsvnxu4darmdhnlg3qj62im64gtzfr6s!'])(
    'malformed CID %j → E_BAD_INPUT, at once',
    async (bad) => {
      // "At once", without a clock: the get's timeout is longer than jest's own limit, so a get that
      // waited for it (looked for the content before refusing it) would fail the test.
      const err = await expectCode(a.get(bad, { timeoutMs: NEVER_MS }), 'E_BAD_INPUT');
      expect(err.permanent).toBe(true);
    },
  );

  test('a well-formed CID that cannot name a UnixFS file (dag-cbor, sha2-512) → E_BAD_INPUT, at once', async () => {
    const digest = await sha256.digest(randomBytes(8));
    const dagCbor = CID.createV1(0x71, digest).toString();
    const rawSha512 = CID.createV1(raw.code, await sha512.digest(randomBytes(8))).toString();
    for (const cid of [dagCbor, rawSha512]) {
      // "At once", as above: a get that waited for this timeout would fail the test on jest's limit.
      const err = await expectCode(a.get(cid, { timeoutMs: NEVER_MS }), 'E_BAD_INPUT');
      expect(err.permanent).toBe(true);
    }
  });

  test('a data dir that cannot be created → HwayError E_INTERNAL, nothing left open', async () => {
    const file = path.join(tmpDir('notadir'), 'file');
    fs.writeFileSync(file, 'x');
    await expectCode(openIpfs({ dataDir: file, logger: quiet }), 'E_INTERNAL');
  });

  test('malformed multiaddrs → E_BAD_INPUT (dial and open)', async () => {
    await expectCode(a.dial('/ip4/not-an-ip/tcp/1'), 'E_BAD_INPUT');
    await expectCode(openIpfs({ dataDir: tmpDir('badaddr'), listen: ['garbage'], logger: quiet }), 'E_BAD_INPUT');
  });
});

describe('two nodes over bitswap', () => {
  test('B dials A and gets A’s export by CID; B then has it locally', async () => {
    const data = exportBytes();
    const cid = await a.put(data);
    await b.dial(a.multiaddrs()[0]!, EXISTS);
    expect(b.connectedPeers()).toContain(a.peerId);
    expect(await b.hasLocal(cid)).toBe(false);

    const t0 = performance.now();
    const back = await b.get(cid, EXISTS);
    process.stderr.write(`ipfs: get over bitswap ${(performance.now() - t0).toFixed(1)} ms\n`);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(await b.hasLocal(cid)).toBe(true);
  });

  test('`peers` at open: C is dialled to A and fetches a multi-block file', async () => {
    const data = new Uint8Array(randomBytes(300 * 1024)); // two chunks + a root node
    const cid = await a.put(data);
    const c = await open({ dataDir: tmpDir('c'), peers: a.multiaddrs() });
    expect(c.connectedPeers()).toContain(a.peerId);
    const back = await c.get(cid, EXISTS);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });

  test('an unreachable configured peer does not prevent the open', async () => {
    const d = await open({ dataDir: tmpDir('d'), peers: [`/ip4/127.0.0.1/tcp/1/p2p/${a.peerId}`] });
    expect(d.connectedPeers()).toEqual([]);
    const cid = await d.put(exportBytes());
    expect((await d.get(cid, EXISTS)).length).toBe(155);
  });
});

describe('a peer in another process', () => {
  const fixture = fileURLToPath(new URL('./fixtures/ipfs-peer.ts', import.meta.url));

  test('an export put by another process is fetched by CID after dialing it', async () => {
    const data = exportBytes();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--disable-warning=ExperimentalWarning', fixture, '--data-dir', tmpDir('proc'), '--put', Buffer.from(data).toString('hex')],
      { stdio: 'pipe', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`ipfs-peer exited ${code}: ${stderr}`)));
    });
    const info = JSON.parse(line) as { peerId: string; multiaddrs: string[]; cids: string[] };
    expect(info.cids).toHaveLength(1);

    const e = await open({ dataDir: tmpDir('e'), peers: info.multiaddrs });
    expect(e.connectedPeers()).toContain(info.peerId);
    const back = await e.get(info.cids[0]!, EXISTS);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);

    // Closing its stdin stops it cleanly.
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.stdin.end();
    expect(await exited).toBe(0);
  });
});
