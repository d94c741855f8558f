// The typed host API over the vault enclave: one `Enclave` per node (a pool of worker threads holding
// many plugin instances), one `VaultEnclave` instance per vault. The host only ever handles sealed
// data, public keys, signatures and password envelopes; private keys exist only inside the wasm.
import { availableParallelism } from 'node:os';
import { HwayError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeOutput, encodeFrame, expectSize, readU32le } from './frame.js';
import { masterKeyFrame, type MasterKeyRing } from './master-keys.js';
import { EnclavePool, type PoolStats } from './pool.js';
import { loadPlugin, pinnedPlugin, type PluginName, type PluginSource } from './wasm.js';

/** Sealed data v2 (ABI 3), what every seal writes: bound to its vault id and account. */
export const SEALED_SIZE = 97;
/** Sealed data v1 (up to ABI 2): bound to its vault id only; still opened, for any account. */
export const SEALED_V1_SIZE = 81;
const MAX_VAULT_ID = 256;
const MAX_ACCOUNT = 256;
/** A v1 export envelope (scrypt): still imported, no longer written. */
export const ENVELOPE_V1_SIZE = 109;
/** A v2 export envelope (Argon2id) is this plus the byte length of the exporting vault's id. */
export const ENVELOPE_V2_BASE_SIZE = 117;
export const ENVELOPE_MAX_SIZE = ENVELOPE_V2_BASE_SIZE + MAX_VAULT_ID;
/** Fewest characters of a password for a new export (ABI.md; the client and the node check it too). */
export const MIN_EXPORT_PASSWORD = 12;
export const DEFAULT_TIMEOUT_MS = 20_000;
const MAX_PASSWORD = 1024;

export interface EnclaveOptions {
  /**
   * Master keys; without them only `verify` and `info` work. The enclave keeps its own copy (bytes in
   * shared memory, zeroed on close): the caller may wipe this ring once `open` has resolved.
   */
  masterKeys?: MasterKeyRing;
  /** Worker threads for fast calls (default: cores, at most 4). */
  workers?: number;
  /** Worker threads for export/import (default 1). */
  kdfWorkers?: number;
  /** Deadline of every enclave call (default 20 s). */
  timeoutMs?: number;
  /** Most calls per thread hop (default 64). */
  maxBatch?: number;
  /** Which plugin: the committed production one (default), the test build, or a file with its pin. */
  plugin?: PluginName | PluginSource;
  /**
   * The plugin of the export/import instances: the same code with the large memory cap Argon2id needs.
   * Default: the `-kdf` twin of a named `plugin` (vault.wasm → vault-kdf.wasm, vault-test.wasm →
   * vault-test-kdf.wasm); for a `plugin` given as a file, that same file.
   */
  kdfPlugin?: PluginName | PluginSource;
  logger?: Logger;
}

/**
 * Whom sealed data is for: the vault id and the account of the request. The account must be one the
 * host verified (a token's), never one read from Redis: a v2 seal opens only for its own account
 * (E_FORBIDDEN otherwise), which is what keeps a rewritten `account` field from gaining anything.
 */
export interface SealBinding {
  vaultId: string;
  account: string;
}

export interface Generated {
  sealed: Uint8Array;
  publicKey: Uint8Array;
}

export interface Imported extends Generated {
  /** The id of the vault that made the export (authenticated by a v2 envelope); null for v1. */
  sourceVaultId: string | null;
}

export interface Signature {
  /** 64 bytes r ‖ s, low-S. */
  signature: Uint8Array;
  /** 0–3. */
  recovery: number;
}

export interface Refreshed extends Generated {
  epoch: number;
}

export interface VerifyOptions {
  /** Accept high-S signatures too (Wycheproof P1363 semantics). Default: strict low-S. */
  allowHighS?: boolean;
  /** The signature is DER; default 64-byte compact r ‖ s. */
  der?: boolean;
}

export interface EnclaveInfo {
  name: string;
  abi: number;
  currentKeyId: number | null;
}

const utf8 = new TextEncoder();

function vaultIdBytes(vaultId: string): Uint8Array {
  const b = utf8.encode(vaultId);
  if (b.length < 1 || b.length > MAX_VAULT_ID) throw new HwayError('E_BAD_INPUT', `vault id must be 1 to ${MAX_VAULT_ID} bytes`, { permanent: true });
  return b;
}

/** The binding's two frame fields: vault id, account (each 1 to 256 bytes of UTF-8). */
function bindingFields(b: SealBinding): [Uint8Array, Uint8Array] {
  const account = utf8.encode(b.account);
  if (account.length < 1 || account.length > MAX_ACCOUNT) throw new HwayError('E_BAD_INPUT', `account must be 1 to ${MAX_ACCOUNT} bytes`, { permanent: true });
  return [vaultIdBytes(b.vaultId), account];
}

/** Sealed data as the enclave takes it: v2, or v1 of older nodes (the enclave checks the version byte). */
function sealedInput(sealed: Uint8Array): Uint8Array {
  if (!(sealed instanceof Uint8Array) || (sealed.length !== SEALED_SIZE && sealed.length !== SEALED_V1_SIZE)) {
    throw new HwayError('E_BAD_INPUT', `sealed data must be ${SEALED_SIZE} (or ${SEALED_V1_SIZE}, v1) bytes`, { permanent: true });
  }
  return sealed;
}

/** Whether sealed data binds its account (v2); v1 data binds only the vault id, until a refresh. */
export function isAccountBound(sealed: Uint8Array): boolean {
  return sealed.length === SEALED_SIZE && sealed[0] === 2;
}

function passwordBytes(password: Uint8Array | string): Uint8Array {
  const b = typeof password === 'string' ? utf8.encode(password) : Uint8Array.from(password);
  if (b.length < 1 || b.length > MAX_PASSWORD) throw new HwayError('E_BAD_INPUT', `password must be 1 to ${MAX_PASSWORD} bytes`, { permanent: true });
  return b;
}

/** A new export's password: at least MIN_EXPORT_PASSWORD characters (E_WEAK_PASSWORD). */
function exportPasswordBytes(password: Uint8Array | string): Uint8Array {
  // Characters (code points); of bytes, the UTF-8 lead bytes, so that no string copy of them is made.
  const chars = typeof password === 'string' ? [...password].length : password.filter((b) => (b & 0xc0) !== 0x80).length;
  if (chars < MIN_EXPORT_PASSWORD) {
    throw new HwayError('E_WEAK_PASSWORD', `an export password needs at least ${MIN_EXPORT_PASSWORD} characters`, { permanent: true });
  }
  return passwordBytes(password);
}

/** The `-kdf` twin of a named plugin (build.sh links both from the same objects). */
function kdfTwin(name: PluginName): PluginName {
  return name.endsWith('-kdf.wasm') ? name : (name.replace(/\.wasm$/, '-kdf.wasm') as PluginName);
}

function exact(b: Uint8Array, size: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== size) throw new HwayError('E_BAD_INPUT', `${what} must be ${size} bytes`, { permanent: true });
  return b;
}

/** Runs one framed call and decodes it; the input frame (which may hold a password) is zeroed after. */
async function framed(run: (input: Uint8Array) => Promise<Uint8Array>, fields: Uint8Array[]): Promise<Uint8Array[]> {
  const input = encodeFrame(fields);
  try {
    return decodeOutput(await run(input)).map((f) => f.slice());
  } finally {
    input.fill(0);
  }
}

export class Enclave {
  private constructor(
    private readonly pool: EnclavePool,
    readonly timeoutMs: number,
  ) {}

  static async open(options: EnclaveOptions = {}): Promise<Enclave> {
    const source = typeof options.plugin === 'object' ? options.plugin : pinnedPlugin(options.plugin ?? 'vault.wasm');
    const kdfOption = options.kdfPlugin ?? (typeof options.plugin === 'object' ? options.plugin : kdfTwin(options.plugin ?? 'vault.wasm'));
    const kdfSource = typeof kdfOption === 'object' ? kdfOption : pinnedPlugin(kdfOption);
    const [module, kdfModule] = await Promise.all([loadPlugin(source), kdfSource.path === source.path ? undefined : loadPlugin(kdfSource)]);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const pool = new EnclavePool({
      module,
      ...(kdfModule === undefined ? {} : { kdfModule }),
      ...(options.masterKeys === undefined ? {} : { masterKeys: masterKeyFrame(options.masterKeys) }),
      workers: options.workers ?? Math.min(4, availableParallelism()),
      kdfWorkers: options.kdfWorkers ?? 1,
      timeoutMs,
      maxBatch: options.maxBatch ?? 64,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const enclave = new Enclave(pool, timeoutMs);
    try {
      await enclave.info();
    } catch (err) {
      await pool.close();
      throw err;
    }
    return enclave;
  }

  /** A new enclave instance for one vault, created and ready when this resolves. */
  async vault(): Promise<VaultEnclave> {
    const inst = this.pool.newInstance();
    const v = new VaultEnclave(this, this.pool, inst);
    try {
      await v.call('info', []);
    } catch (err) {
      await v.close();
      throw err;
    }
    return v;
  }

  async info(): Promise<EnclaveInfo> {
    return parseInfo(await this.raw('info', []));
  }

  async verify(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array, opts: VerifyOptions = {}): Promise<boolean> {
    exact(digest, 32, 'digest');
    const flags = (opts.allowHighS ? 1 : 0) | (opts.der ? 2 : 0);
    const [valid] = await this.raw('verify', [publicKey, digest, signature, Uint8Array.of(flags)]);
    return expectSize(valid, 1, 'verdict')[0] === 1;
  }

  /**
   * Password-encrypted export of a sealed key: a v2 envelope (Argon2id, m = 256 MiB, t = 3, p = 1;
   * the vault id in the authenticated header), computed in a throw-away instance of the KDF plugin.
   * The seal must open for `binding` (E_FORBIDDEN for another account). A password shorter than 12
   * characters is E_WEAK_PASSWORD.
   */
  async exportKey(sealed: Uint8Array, binding: SealBinding, password: Uint8Array | string): Promise<Uint8Array> {
    const pw = exportPasswordBytes(password);
    const [vid, account] = bindingFields(binding);
    try {
      const [envelope] = await framed((i) => this.pool.callOneShot('export', i), [sealedInput(sealed), vid, account, pw]);
      return expectSize(envelope, ENVELOPE_V2_BASE_SIZE + vid.length, 'envelope');
    } finally {
      pw.fill(0);
    }
  }

  /**
   * Restores an export (v2, or a v1 envelope of older nodes) under this node's master key, sealed for
   * `binding` (the importing vault and account); epoch starts at 0. Any password length is accepted
   * here: old exports may have short ones.
   */
  async importKey(envelope: Uint8Array, password: Uint8Array | string, binding: SealBinding): Promise<Imported> {
    if (!(envelope instanceof Uint8Array) || (envelope.length !== ENVELOPE_V1_SIZE && (envelope.length <= ENVELOPE_V2_BASE_SIZE || envelope.length > ENVELOPE_MAX_SIZE))) {
      throw new HwayError('E_BAD_INPUT', `an envelope is ${ENVELOPE_V1_SIZE} (v1) or ${ENVELOPE_V2_BASE_SIZE + 1} to ${ENVELOPE_MAX_SIZE} (v2) bytes`, { permanent: true });
    }
    const pw = passwordBytes(password);
    try {
      const [sealed, publicKey, source] = await framed((i) => this.pool.callOneShot('import', i), [envelope, pw, ...bindingFields(binding)]);
      if (source === undefined || source.length > MAX_VAULT_ID) throw new HwayError('E_ENCLAVE', 'enclave returned no source vault id');
      return {
        sealed: expectSize(sealed, SEALED_SIZE, 'sealed data'),
        publicKey: expectSize(publicKey, 33, 'public key'),
        sourceVaultId: source.length === 0 ? null : new TextDecoder().decode(source),
      };
    } finally {
      pw.fill(0);
    }
  }

  /** A framed call of any export on a shared instance: for tests, fuzzing and test-only exports. */
  raw(fn: string, fields: Uint8Array[]): Promise<Uint8Array[]> {
    return framed((i) => this.pool.callShared(fn, i), fields);
  }

  /** A framed call on a throw-away instance (the KDF lane). */
  rawOneShot(fn: string, fields: Uint8Array[]): Promise<Uint8Array[]> {
    return framed((i) => this.pool.callOneShot(fn, i), fields);
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function parseInfo(fields: Uint8Array[]): EnclaveInfo {
  const [name, abi, key] = fields;
  if (name === undefined || abi === undefined || key === undefined) throw new HwayError('E_ENCLAVE', 'enclave info is incomplete');
  return {
    name: new TextDecoder().decode(name),
    abi: expectSize(abi, 1, 'ABI version')[0]!,
    currentKeyId: key.length === 4 ? readU32le(key) : null,
  };
}

/** One vault's enclave instance. Calls on it are serialised by the pool; it holds no vault state. */
export class VaultEnclave {
  private closed = false;

  constructor(
    private readonly enclave: Enclave,
    private readonly pool: EnclavePool,
    private readonly inst: number,
  ) {}

  async generate(binding: SealBinding): Promise<Generated> {
    const [sealed, publicKey] = await this.call('generate', bindingFields(binding));
    return { sealed: expectSize(sealed, SEALED_SIZE, 'sealed data'), publicKey: expectSize(publicKey, 33, 'public key') };
  }

  async sign(sealed: Uint8Array, binding: SealBinding, digest: Uint8Array): Promise<Signature> {
    const [signature, recovery] = await this.call('sign', [sealedInput(sealed), ...bindingFields(binding), exact(digest, 32, 'digest')]);
    return { signature: expectSize(signature, 64, 'signature'), recovery: expectSize(recovery, 1, 'recovery id')[0]! };
  }

  /** Re-seals under the current master key, epoch + 1, as v2 for `binding` (so a v1 seal becomes account-bound). */
  async refresh(sealed: Uint8Array, binding: SealBinding): Promise<Refreshed> {
    const [next, publicKey, epoch] = await this.call('refresh', [sealedInput(sealed), ...bindingFields(binding)]);
    return {
      sealed: expectSize(next, SEALED_SIZE, 'sealed data'),
      publicKey: expectSize(publicKey, 33, 'public key'),
      epoch: readU32le(expectSize(epoch, 4, 'epoch')),
    };
  }

  /**
   * Checks that the seal opens for `binding` as sign would (E_FORBIDDEN for another account, E_CORRUPT,
   * E_KEY_RETIRED); the enclave discards the key. For operations that use no key but must not run for
   * another account than the seal's (info, delete).
   */
  async checkSeal(sealed: Uint8Array, binding: SealBinding): Promise<void> {
    await this.call('check_seal', [sealedInput(sealed), ...bindingFields(binding)]);
  }

  export(sealed: Uint8Array, binding: SealBinding, password: Uint8Array | string): Promise<Uint8Array> {
    return this.enclave.exportKey(sealed, binding, password);
  }

  import(envelope: Uint8Array, password: Uint8Array | string, binding: SealBinding): Promise<Imported> {
    return this.enclave.importKey(envelope, password, binding);
  }

  verify(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array, opts?: VerifyOptions): Promise<boolean> {
    return this.enclave.verify(publicKey, digest, signature, opts);
  }

  /** A framed call of any export on this instance (tests, fuzzing). */
  call(fn: string, fields: Uint8Array[]): Promise<Uint8Array[]> {
    if (this.closed) return Promise.reject(new HwayError('E_CLOSED', 'vault enclave is closed'));
    return framed((i) => this.pool.call(this.inst, fn, i), fields);
  }

  /** An unencoded input frame, as-is, to this instance: for fuzzing the enclave's own parser. */
  async callFrame(fn: string, input: Uint8Array): Promise<Uint8Array[]> {
    if (this.closed) throw new HwayError('E_CLOSED', 'vault enclave is closed');
    return decodeOutput(await this.pool.call(this.inst, fn, input));
  }

  /** Frees the instance's memory in its worker (passivation). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.closeInstance(this.inst);
  }
}
