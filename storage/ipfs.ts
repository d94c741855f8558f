// Embedded IPFS node (Helia + UnixFS) for encrypted vault exports: opaque bytes in, CID out.
//
// Why it looks the way it does (see ../shared/STACK.md, "Helia"):
// - Helia and libp2p are imported lazily (loadModules): importing them costs ~2 s and ~85 MiB, which
//   a CLI command that never touches IPFS must not pay; a node preloads them at start (preloadIpfs).
//   Only types are imported statically.
// - Helia 6, not 7: every Helia 7 pulls @helia/libp2p, whose dependencies need Node >= 22 (undici 8,
//   p-retry 8); package.json pins the Node 20 versions, and spec/package.test.ts checks a consumer's
//   install.
// - createHelia gets explicit libp2p options, block brokers and routers instead of its defaults (Helia
//   6 uses its defaults only for the keys not given), so that nothing reaches the outside: no HTTP
//   delegated routers or gateways, no bootstrap list, no mDNS, no DHT, no relay/UPnP/autoNAT. Blocks
//   move only over bitswap between peers that were dialled explicitly (`peers`, `dial`) or that
//   dialled us (`listen`).
// - Blocks and the datastore (peer key, pins) live under <dataDir>/ipfs/, so exports and the peer
//   id survive a restart; a stable peer id keeps a published multiaddr dialable.
import './promise-polyfill.js';

import path from 'node:path';
import { HwayError, isHwayError } from '../errors.js';
import { logger as componentLogger, type Logger } from '../log.js';

import type { Helia } from 'helia';
import type { UnixFS } from '@helia/unixfs';
import type { FsBlockstore } from 'blockstore-fs';
import type { FsDatastore } from 'datastore-fs';
import type { CID } from 'multiformats/cid';
import type { Multiaddr } from '@multiformats/multiaddr';

export interface OpenIpfsOptions {
  /** The node's data directory; IPFS state goes under `<dataDir>/ipfs/`. */
  dataDir: string;
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. Default: none (the node only dials out). */
  listen?: string[];
  /** Multiaddrs (with `/p2p/<peerId>`) of peers to dial at open, and to redial when a get needs them. */
  peers?: string[];
  logger?: Logger;
}

export interface GetOptions {
  /** How long to look for the content (locally, then from connected peers). Default 10 000 ms. */
  timeoutMs?: number;
  /** Cancels the get early (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Refuse content larger than this, so a hostile CID cannot make us buffer a huge file. Default 4 MiB. */
  maxBytes?: number;
}

export interface IpfsStore {
  /** This node's libp2p peer id (base58btc string), stable across restarts of one data dir. */
  readonly peerId: string;
  /** Stores the bytes as a UnixFS file, pins it (so a GC keeps it) and returns its CID (v1, base32). */
  put(bytes: Uint8Array): Promise<string>;
  /**
   * The bytes of the UnixFS file `cid`: from the local blockstore, else via bitswap from connected peers
   * (and then kept locally). E_BAD_INPUT for a malformed CID or one that is not a file;
   * E_NOT_FOUND when nobody gave it to us within `timeoutMs`.
   */
  get(cid: string, options?: GetOptions): Promise<Uint8Array>;
  /** Whether the content's root block is in the local blockstore (no network). */
  hasLocal(cid: string): Promise<boolean>;
  /** The addresses we listen on, each ending in `/p2p/<peerId>` so that another node can dial it. */
  multiaddrs(): string[];
  /** Connects to a peer (a multiaddr with `/p2p/<peerId>`). E_BAD_INPUT if malformed, E_TIMEOUT if slow. */
  dial(addr: string, options?: { timeoutMs?: number }): Promise<void>;
  /** Peer ids we are connected to. */
  connectedPeers(): string[];
  /** Stops libp2p and Helia and closes the stores. Idempotent; other calls afterwards fail with E_CLOSED. */
  close(): Promise<void>;
}

const DEFAULT_GET_TIMEOUT_MS = 10_000;
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const UNIXFS_CODECS = new Set([0x70 /* dag-pb */, 0x55 /* raw */]);
const SUPPORTED_HASHES = new Set([0x12 /* sha2-256 */, 0x00 /* identity */]);

// The subset of modules openIpfs needs, loaded once per process (the second open is fast).
interface IpfsModules {
  helia: typeof import('helia');
  blockBrokers: typeof import('@helia/block-brokers');
  unixfs: typeof import('@helia/unixfs');
  blockstoreFs: typeof import('blockstore-fs');
  datastoreFs: typeof import('datastore-fs');
  tcp: typeof import('@libp2p/tcp');
  noise: typeof import('@libp2p/noise');
  yamux: typeof import('@libp2p/yamux');
  identify: typeof import('@libp2p/identify');
  cid: typeof import('multiformats/cid');
  multiaddr: typeof import('@multiformats/multiaddr');
}

let modulesPromise: Promise<IpfsModules> | undefined;

/**
 * Imports Helia and libp2p without opening anything. Evaluating their ~1,000 modules blocks the event
 * loop for 1–2 s (longer on a busy machine), so a node does it before it holds leases, which such a
 * pause could let expire; the first export or import then opens the store without that pause.
 */
export async function preloadIpfs(): Promise<void> {
  await loadModules();
}

function loadModules(): Promise<IpfsModules> {
  // Imported one after another, not with Promise.all: jest's ESM loader (vm modules) fails
  // concurrent dynamic imports that share dependencies ("request for … is not in cache"), and in
  // plain Node the shared graph makes parallel imports no faster anyway.
  modulesPromise ??= (async () => {
    const helia = await import('helia');
    const blockBrokers = await import('@helia/block-brokers');
    const unixfs = await import('@helia/unixfs');
    const blockstoreFs = await import('blockstore-fs');
    const datastoreFs = await import('datastore-fs');
    const tcp = await import('@libp2p/tcp');
    const noise = await import('@libp2p/noise');
    const yamux = await import('@libp2p/yamux');
    const identify = await import('@libp2p/identify');
    const cid = await import('multiformats/cid');
    const multiaddr = await import('@multiformats/multiaddr');
    return { helia, blockBrokers, unixfs, blockstoreFs, datastoreFs, tcp, noise, yamux, identify, cid, multiaddr };
  })();
  // A failed import (e.g. a broken install) must not be cached forever.
  modulesPromise.catch(() => {
    modulesPromise = undefined;
  });
  return modulesPromise;
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : '';
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// Helia/UnixFS errors that mean "this CID cannot be read as a file", as opposed to "not found yet".
const NOT_A_FILE_ERRORS = new Set([
  'NotAFileError',
  'NotUnixFSError',
  'InvalidPBNodeError',
  'UnknownCodecError',
  'UnknownHashAlgorithmError',
  'InvalidParametersError',
  'NoContentError',
]);

export async function openIpfs(options: OpenIpfsOptions): Promise<IpfsStore> {
  const log = options.logger ?? componentLogger('ipfs');
  const root = path.join(options.dataDir, 'ipfs');
  const m = await loadModules();

  // Parse addresses before opening anything, so bad configuration fails without side effects.
  const listen = (options.listen ?? []).map((a) => parseMultiaddr(m, a, 'listen address'));
  const peers = (options.peers ?? []).map((a) => parseMultiaddr(m, a, 'peer address'));

  // Created with createIfMissing (the default), so a fresh data dir just works.
  const blockstore: FsBlockstore = new m.blockstoreFs.FsBlockstore(path.join(root, 'blocks'));
  const datastore: FsDatastore = closableDatastore(m, path.join(root, 'datastore'));
  try {
    await blockstore.open();
    await datastore.open();
  } catch (e) {
    await blockstore.close().catch(() => undefined);
    await datastore.close().catch(() => undefined);
    throw new HwayError('E_INTERNAL', `cannot open IPFS stores under ${root}: ${errorMessage(e)}`, { cause: e });
  }

  let helia: Helia;
  try {
    // helia 6: createHelia loads (or creates) the peer key from the datastore, as withLibp2pLight did, and
    // builds libp2p from these options (its defaults apply only to keys not given here).
    helia = await m.helia.createHelia({
      blockstore,
      datastore,
      blockBrokers: [m.blockBrokers.bitswap()],
      routers: [],
      libp2p: {
        addresses: { listen: listen.map((a) => a.toString()) },
        transports: [m.tcp.tcp()],
        connectionEncrypters: [m.noise.noise()],
        streamMuxers: [m.yamux.yamux()],
        peerDiscovery: [],
        services: { identify: m.identify.identify() },
      },
    });
  } catch (e) {
    await blockstore.close().catch(() => undefined);
    await datastore.close().catch(() => undefined);
    throw new HwayError('E_INTERNAL', `cannot start IPFS node under ${root}: ${errorMessage(e)}`, { cause: e });
  }

  const fs: UnixFS = m.unixfs.unixfs(helia);
  const libp2p = helia.libp2p;
  const peerId = libp2p.peerId.toString();
  let closed = false;
  let closing: Promise<void> | undefined;

  log.info('ipfs node started', { peerId, listen: libp2p.getMultiaddrs().map(String), peers: peers.length });

  function assertOpen(): void {
    if (closed) throw new HwayError('E_CLOSED', 'IPFS store is closed');
  }

  function parseCid(s: string): CID {
    if (typeof s !== 'string' || s.length === 0 || s.length > 512) {
      throw new HwayError('E_BAD_INPUT', 'malformed CID', { permanent: true });
    }
    let cid: CID;
    try {
      cid = m.cid.CID.parse(s.trim());
    } catch (e) {
      throw new HwayError('E_BAD_INPUT', `malformed CID: ${errorMessage(e)}`, { permanent: true, cause: e });
    }
    // A UnixFS file is dag-pb or raw blocks hashed with sha2-256 (or inlined with identity); refuse
    // anything else now rather than after waiting the whole timeout for blocks we could not decode.
    if (!UNIXFS_CODECS.has(cid.code) || !SUPPORTED_HASHES.has(cid.multihash.code)) {
      throw new HwayError('E_BAD_INPUT', `CID ${cid.toString()} is not a UnixFS file CID (codec 0x${cid.code.toString(16)}, hash 0x${cid.multihash.code.toString(16)})`, { permanent: true });
    }
    return cid;
  }

  async function dialOne(addr: Multiaddr, timeoutMs: number): Promise<void> {
    try {
      await libp2p.dial(addr, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      if (errorName(e) === 'AbortError' || errorName(e) === 'TimeoutError') {
        throw new HwayError('E_TIMEOUT', `dialing ${addr.toString()} timed out after ${timeoutMs} ms`, { cause: e });
      }
      // No dedicated "unreachable" code exists in errors.ts; E_INTERNAL keeps it retryable.
      throw new HwayError('E_INTERNAL', `cannot dial ${addr.toString()}: ${errorMessage(e)}`, { cause: e });
    }
  }

  // Configured peers that have dropped are redialled when a get needs the network; failures are only
  // logged, because the content may still come from another peer before the timeout.
  function redialConfiguredPeers(timeoutMs: number): void {
    const connected = new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()));
    for (const addr of peers) {
      const target = addr.getComponents().find((c) => c.name === 'p2p')?.value;
      if (target !== undefined && connected.has(target)) continue;
      dialOne(addr, timeoutMs).catch((e: unknown) =>
        log.warn('ipfs peer dial failed', { peer: addr.toString(), code: isHwayError(e) ? e.code : 'E_INTERNAL', error: errorMessage(e) }),
      );
    }
  }

  // Dial configured peers now, without failing the open: the local blockstore works regardless.
  await Promise.all(
    peers.map((addr) =>
      dialOne(addr, DEFAULT_DIAL_TIMEOUT_MS).catch((e: unknown) =>
        log.warn('ipfs peer dial failed', { peer: addr.toString(), code: isHwayError(e) ? e.code : 'E_INTERNAL', error: errorMessage(e) }),
      ),
    ),
  );

  const store: IpfsStore = {
    peerId,

    async put(input: Uint8Array): Promise<string> {
      assertOpen();
      const bytes = asBytes(input);
      if (bytes === undefined) throw new HwayError('E_BAD_INPUT', 'put expects a Uint8Array', { permanent: true });
      // CIDv1 + raw leaves (the UnixFS importer default): a small export is one raw block.
      const cid = await fs.addBytes(bytes);
      // Pin so that a later helia.gc() (if anyone runs one) never drops an export; re-pinning is a no-op.
      if (!(await helia.pins.isPinned(cid))) {
        for await (const _ of helia.pins.add(cid)) {
          // drain: add() yields each pinned block's CID
        }
      }
      log.debug('ipfs put', { cid: cid.toString(), bytes: bytes.length });
      return cid.toString();
    },

    async get(cidString: string, getOptions: GetOptions = {}): Promise<Uint8Array> {
      assertOpen();
      const cid = parseCid(cidString);
      const timeoutMs = getOptions.timeoutMs ?? DEFAULT_GET_TIMEOUT_MS;
      const maxBytes = getOptions.maxBytes ?? DEFAULT_MAX_BYTES;
      if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
        throw new HwayError('E_BAD_INPUT', `timeoutMs must be a positive integer of milliseconds, got ${String(timeoutMs)}`, { permanent: true });
      }
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = getOptions.signal === undefined ? timeout : AbortSignal.any([timeout, getOptions.signal]);

      if (!(await helia.blockstore.has(cid, { signal }))) redialConfiguredPeers(Math.min(timeoutMs, DEFAULT_DIAL_TIMEOUT_MS));

      const chunks: Uint8Array[] = [];
      let total = 0;
      try {
        for await (const chunk of fs.cat(cid, { signal })) {
          total += chunk.length;
          if (total > maxBytes) {
            throw new HwayError('E_BAD_INPUT', `content of ${cid.toString()} exceeds ${maxBytes} bytes`, { permanent: true });
          }
          chunks.push(chunk);
        }
      } catch (e) {
        if (isHwayError(e)) throw e;
        if (getOptions.signal?.aborted === true) throw getOptions.signal.reason;
        if (timeout.aborted) {
          throw new HwayError('E_NOT_FOUND', `content ${cid.toString()} not found locally or from ${libp2p.getConnections().length} connected peer(s) within ${timeoutMs} ms`, { cause: e });
        }
        if (NOT_A_FILE_ERRORS.has(errorName(e))) {
          throw new HwayError('E_BAD_INPUT', `${cid.toString()} is not a readable UnixFS file: ${errorMessage(e)}`, { permanent: true, cause: e });
        }
        if (closed) throw new HwayError('E_CLOSED', 'IPFS store closed during get', { cause: e });
        throw new HwayError('E_INTERNAL', `reading ${cid.toString()} failed: ${errorMessage(e)}`, { cause: e });
      }
      if (chunks.length === 1) return chunks[0]!;
      const out = new Uint8Array(total);
      let offset = 0;
      for (const c of chunks) {
        out.set(c, offset);
        offset += c.length;
      }
      return out;
    },

    async hasLocal(cidString: string): Promise<boolean> {
      assertOpen();
      return helia.blockstore.has(parseCid(cidString));
    },

    multiaddrs(): string[] {
      assertOpen();
      return libp2p.getMultiaddrs().map((a) => a.toString());
    },

    async dial(addr: string, dialOptions: { timeoutMs?: number } = {}): Promise<void> {
      assertOpen();
      await dialOne(parseMultiaddr(m, addr, 'peer address'), dialOptions.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    },

    connectedPeers(): string[] {
      if (closed) return [];
      return [...new Set(libp2p.getConnections().map((c) => c.remotePeer.toString()))];
    },

    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        try {
          await helia.stop();
        } finally {
          // Helia does not own the stores it was given: close them ourselves (file handles, locks).
          await blockstore.close().catch(() => undefined);
          await datastore.close().catch(() => undefined);
          log.info('ipfs node stopped', { peerId });
        }
      })();
      return closing;
    },
  };
  return store;
}

/**
 * An FsDatastore that really closes: libp2p's peer store still writes peer records for a moment after
 * libp2p.stop() (connection-close bookkeeping), which would recreate files under a data dir that the
 * caller believes closed (and may already be deleting or handing to another process). Writes after
 * close() are dropped (they are only peer metadata), and close() waits for writes already in flight.
 */
function closableDatastore(m: IpfsModules, location: string): FsDatastore {
  type Put = FsDatastore['put'];
  type Delete = FsDatastore['delete'];
  class ClosableFsDatastore extends m.datastoreFs.FsDatastore {
    private closedForWrites = false;
    private readonly inflight = new Set<Promise<unknown>>();

    private track<T>(p: Promise<T>): Promise<T> {
      this.inflight.add(p);
      const done = (): void => void this.inflight.delete(p);
      p.then(done, done);
      return p;
    }

    override async put(...args: Parameters<Put>): ReturnType<Put> {
      if (this.closedForWrites) return args[0];
      return this.track(super.put(...args));
    }

    override async delete(...args: Parameters<Delete>): ReturnType<Delete> {
      if (this.closedForWrites) return;
      return this.track(super.delete(...args));
    }

    override async close(): Promise<void> {
      this.closedForWrites = true;
      await Promise.allSettled([...this.inflight]);
      await super.close();
    }
  }
  return new ClosableFsDatastore(location);
}

// A Uint8Array from another realm (a jest VM context, a worker) fails `instanceof` checks inside
// the UnixFS importer; view the same memory through this realm's Uint8Array instead.
function asBytes(x: unknown): Uint8Array | undefined {
  if (x instanceof Uint8Array) return x;
  if (ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]') {
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  }
  return undefined;
}

function parseMultiaddr(m: IpfsModules, s: string, what: string): Multiaddr {
  try {
    return m.multiaddr.multiaddr(s);
  } catch (e) {
    throw new HwayError('E_BAD_INPUT', `malformed ${what} ${JSON.stringify(s)}: ${errorMessage(e)}`, { permanent: true, cause: e });
  }
}
