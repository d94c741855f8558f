// Signer addresses of a secp256k1 public key, derived on the host (no secret involved):
//   eth: "0x" + last 20 bytes of keccak-256(X‖Y), EIP-55 checksummed (https://eips.ethereum.org/EIPS/eip-55)
//   fil: Filecoin protocol-1 address "f1…"/"t1…" = network ‖ "1" ‖ base32(blake2b-160(04‖X‖Y) ‖ checksum),
//        checksum = blake2b-32(0x01 ‖ payload)   (https://spec.filecoin.io/appendix/address/)
// Routing accepts either spelling; parseAddress gives each a canonical string so that equal
// addresses compare equal, and addressMatchesKey checks an announced address against a key.
// Hashes and curve arithmetic come from @noble (audited, pure JS): nothing here needs the enclave.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { HwayError } from '../errors.js';
import { base32Decode, base32Encode } from './base32.js';

export type FilNetwork = 'f' | 't';

export interface Addresses {
  eth: string;
  fil: string;
}

export type ParsedAddress =
  | { kind: 'eth'; canonical: string }
  | { kind: 'fil'; canonical: string; network: FilNetwork };

const FIL_PROTOCOL_SECP256K1 = 0x01;
const FIL_PAYLOAD_BYTES = 20;
const FIL_CHECKSUM_BYTES = 4;
// network char + protocol digit + base32 of 24 bytes (39 characters)
const FIL_SECP_LENGTH = 2 + Math.ceil(((FIL_PAYLOAD_BYTES + FIL_CHECKSUM_BYTES) * 8) / 5);

const HEX = /^[0-9a-fA-F]*$/;

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

// A Uint8Array from another realm (a jest VM context, a worker, a native addon) fails `instanceof`
// here and in @noble; view the same memory through this realm's Uint8Array instead.
function asBytes(x: unknown): Uint8Array | undefined {
  if (x instanceof Uint8Array) return x;
  if (ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]') {
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  }
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * The 65-byte uncompressed SEC1 encoding (04‖X‖Y) of a 33-byte compressed or 65-byte uncompressed
 * secp256k1 public key. Throws E_INVALID_KEY for any other length or prefix, or a point not on the curve.
 */
export function uncompressedPublicKey(key: Uint8Array): Uint8Array {
  const publicKey = asBytes(key);
  if (publicKey === undefined) {
    throw new HwayError('E_INVALID_KEY', 'public key must be bytes', { permanent: true });
  }
  const ok =
    (publicKey.length === 33 && (publicKey[0] === 0x02 || publicKey[0] === 0x03)) ||
    (publicKey.length === 65 && publicKey[0] === 0x04);
  if (!ok) {
    throw new HwayError(
      'E_INVALID_KEY',
      `public key must be 33 bytes (02/03…) or 65 bytes (04…), got ${publicKey.length} bytes starting ${publicKey.length > 0 ? publicKey[0]!.toString(16).padStart(2, '0') : '-'}`,
      { permanent: true },
    );
  }
  try {
    // fromBytes checks that the point is on the curve (and decompresses a 33-byte key).
    return secp256k1.Point.fromBytes(publicKey).toBytes(false);
  } catch (e) {
    throw new HwayError('E_INVALID_KEY', 'public key is not a point on secp256k1', { permanent: true, cause: e });
  }
}

/** EIP-55 mixed-case checksum of 40 hex digits (any case in, checksummed "0x…" out). */
export function toChecksumEthAddress(hex40: string): string {
  const lower = hex40.toLowerCase();
  const hash = toHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = lower[i]!;
    // A letter is upper-cased when the matching nibble of keccak(lowercase hex) is 8 or more.
    out += c >= 'a' && parseInt(hash[i]!, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

function ethFromUncompressed(uncompressed: Uint8Array): string {
  const hash = keccak_256(uncompressed.subarray(1)); // X‖Y, without the 0x04 prefix
  return toChecksumEthAddress(toHex(hash.subarray(12)));
}

function filChecksum(payload: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + payload.length);
  input[0] = FIL_PROTOCOL_SECP256K1;
  input.set(payload, 1);
  return blake2b(input, { dkLen: FIL_CHECKSUM_BYTES });
}

function filPayload(uncompressed: Uint8Array): Uint8Array {
  return blake2b(uncompressed, { dkLen: FIL_PAYLOAD_BYTES }); // of all 65 bytes, 0x04 included
}

function filFromPayload(payload: Uint8Array, network: FilNetwork): string {
  const body = new Uint8Array(FIL_PAYLOAD_BYTES + FIL_CHECKSUM_BYTES);
  body.set(payload, 0);
  body.set(filChecksum(payload), FIL_PAYLOAD_BYTES);
  return `${network}1${base32Encode(body)}`;
}

function assertNetwork(network: unknown): asserts network is FilNetwork {
  if (network !== 'f' && network !== 't') {
    throw new HwayError('E_BAD_INPUT', `Filecoin network must be 'f' or 't', got ${JSON.stringify(network)}`, { permanent: true });
  }
}

/** The EIP-55 checksummed Ethereum address of a secp256k1 public key (33 or 65 bytes). */
export function ethAddress(publicKey: Uint8Array): string {
  return ethFromUncompressed(uncompressedPublicKey(publicKey));
}

/** The Filecoin secp256k1 (protocol 1) address of a public key: "f1…" (mainnet) or "t1…" (test networks). */
export function filAddress(publicKey: Uint8Array, network: FilNetwork = 'f'): string {
  assertNetwork(network);
  return filFromPayload(filPayload(uncompressedPublicKey(publicKey)), network);
}

/** Both addresses of one key (decompressing it once). */
export function addressesOf(publicKey: Uint8Array, options: { filNetwork?: FilNetwork } = {}): Addresses {
  const network = options.filNetwork ?? 'f';
  assertNetwork(network);
  const uncompressed = uncompressedPublicKey(publicKey);
  return { eth: ethFromUncompressed(uncompressed), fil: filFromPayload(filPayload(uncompressed), network) };
}

function badAddress(message: string): HwayError {
  return new HwayError('E_BAD_INPUT', message, { permanent: true });
}

function parseEth(s: string): ParsedAddress {
  const digits = s.slice(2);
  if (digits.length !== 40 || !HEX.test(digits)) throw badAddress('an Ethereum address is 0x followed by 40 hex digits');
  const canonical = toChecksumEthAddress(digits);
  const allLower = digits === digits.toLowerCase();
  const allUpper = digits === digits.toUpperCase();
  // Mixed case means "this is EIP-55": then a wrong case is a typo the checksum caught.
  if (!allLower && !allUpper && `0x${digits}` !== canonical) {
    throw badAddress('Ethereum address has a wrong EIP-55 checksum (mixed case that does not match)');
  }
  return { kind: 'eth', canonical };
}

// Decodes an f1/t1 address to its 20-byte payload, verifying the checksum.
function decodeFil(s: string): { network: FilNetwork; payload: Uint8Array } {
  // Filecoin addresses are lowercase; an all-uppercase copy (e.g. from a QR code) is the same address.
  const lower = s.toLowerCase();
  if (s !== lower && s !== s.toUpperCase()) throw badAddress('Filecoin address must not mix upper and lower case');
  const network = lower[0];
  if (network !== 'f' && network !== 't') throw badAddress('Filecoin address must start with f or t');
  const protocol = lower[1];
  if (protocol !== '1') {
    throw badAddress(`only Filecoin secp256k1 (protocol 1, ${network}1…) addresses are supported, got protocol ${JSON.stringify(protocol ?? '')}`);
  }
  if (lower.length !== FIL_SECP_LENGTH) throw badAddress(`a Filecoin ${network}1 address has ${FIL_SECP_LENGTH} characters, got ${lower.length}`);
  const body = base32Decode(lower.slice(2));
  if (body === undefined || body.length !== FIL_PAYLOAD_BYTES + FIL_CHECKSUM_BYTES) {
    throw badAddress('Filecoin address is not valid base32');
  }
  const payload = body.subarray(0, FIL_PAYLOAD_BYTES);
  if (!equalBytes(body.subarray(FIL_PAYLOAD_BYTES), filChecksum(payload))) {
    throw badAddress('Filecoin address checksum does not match');
  }
  return { network, payload };
}

/**
 * Recognises an address and returns its canonical spelling: for eth the EIP-55 form (all-lower and
 * all-upper input accepted; mixed case must carry a correct checksum), for fil the lowercase f1/t1 form
 * with a verified checksum. Anything else is E_BAD_INPUT.
 */
export function parseAddress(s: string): ParsedAddress {
  if (typeof s !== 'string') throw badAddress('address must be a string');
  const hit = parsed.get(s);
  if (hit !== undefined) return hit;
  const p = Object.freeze(parseUncached(s));
  // A signing service asks for the same few addresses again and again, and each parse is a keccak
  // (EIP-55) or a blake2b (Filecoin checksum): on the gateway's request path, once on the producer and
  // once on the node. Only addresses that parsed are kept; the bound keeps a flood of distinct ones
  // from growing it (when full it starts over).
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(s, p);
  return p;
}

const PARSED_MAX = 4096;
const parsed = new Map<string, Readonly<ParsedAddress>>();

function parseUncached(s: string): ParsedAddress {
  if (s.startsWith('0x')) return parseEth(s);
  if (/^[fFtT]/.test(s)) {
    const { network, payload } = decodeFil(s);
    return { kind: 'fil', canonical: filFromPayload(payload, network), network };
  }
  throw badAddress('not an Ethereum (0x…) or Filecoin (f1…/t1…) address');
}

/**
 * Whether `address` (either kind, any accepted spelling) belongs to `publicKey`. A Filecoin address
 * matches on its payload, whatever its network letter: f1 and t1 of one key name the same key.
 * Throws E_BAD_INPUT for a malformed address and E_INVALID_KEY for an invalid key; false on mismatch.
 */
export function addressMatchesKey(address: string, publicKey: Uint8Array): boolean {
  const parsed = parseAddress(address);
  const uncompressed = uncompressedPublicKey(publicKey);
  if (parsed.kind === 'eth') return parsed.canonical === ethFromUncompressed(uncompressed);
  return equalBytes(decodeFil(parsed.canonical).payload, filPayload(uncompressed));
}
