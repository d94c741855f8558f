// Filecoin message signing as Lotus and Venus do it (secp256k1, signature type 1):
//   message   = dag-cbor [Version, To, From, Nonce, Value, GasLimit, GasFeeCap, GasPremium, Method, Params]
//               (addresses as their byte form, big integers as sign byte ‖ big-endian magnitude, zero = empty)
//   CID       = CIDv1(dag-cbor, blake2b-256 multihash of the message bytes)
//   digest    = blake2b-256(CID bytes)                          (what the key signs)
//   signature = 65 bytes r ‖ s ‖ v, v = recovery id 0/1; Lotus JSON {Type: 1, Data: base64}
// The input is a message in Lotus JSON (what Lotus, Venus and @glif/filecoin-message's toLotusType
// produce). The result also carries the signed message's CID: for a secp256k1 message that is what
// Lotus's mpool and explorers call the message (dag-cbor [message, 0x01 ‖ signature]).
import * as dagCbor from '@ipld/dag-cbor';
import { blake2b } from '@noble/hashes/blake2.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { base32Decode } from '../../enclaves/base32.js';
import { HwayError } from '../../errors.js';
import type { FilecoinSignedResult } from './inputs.js';
import { bad, object, onlyKeys, quantity, type Prepared, type RawSignature } from './common.js';

/** Multicodec code of blake2b-256. */
const BLAKE2B_256 = 0xb220;
const DAG_CBOR = 0x71;
const SIG_SECP256K1 = 1;

const blake = (b: Uint8Array, dkLen = 32): Uint8Array => blake2b(b, { dkLen });

function uvarint(n: bigint): number[] {
  const out: number[] = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    out.push(byte);
  } while (n > 0n);
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The byte form of a Filecoin address (protocol byte ‖ payload), with its checksum verified:
 * f0 (ID), f1 (secp256k1), f2 (actor), f3 (BLS), f4 (delegated, e.g. f410f… for Ethereum accounts);
 * network letter f or t.
 */
export function filAddressBytes(s: unknown, field: string): Uint8Array {
  if (typeof s !== 'string' || s.length < 3 || s.length > 200) bad(field, 'must be a Filecoin address (f0…, f1…, f2…, f3…, f4…; t… on test networks)');
  const a = s.toLowerCase();
  if (s !== a && s !== s.toUpperCase()) bad(field, 'must not mix upper and lower case');
  if (a[0] !== 'f' && a[0] !== 't') bad(field, 'must start with f or t (the network)');
  const protocol = a.charCodeAt(1) - 48;
  const rest = a.slice(2);
  const checked = (prefix: number[], body: Uint8Array | undefined, payloadLen?: number): Uint8Array => {
    if (body === undefined || body.length < 5) bad(field, 'is not valid base32');
    const payload = body.subarray(0, body.length - 4);
    if (payloadLen !== undefined && payload.length !== payloadLen) bad(field, `must carry a ${payloadLen}-byte payload for protocol ${protocol}`);
    const bytes = Uint8Array.from([...prefix, ...payload]);
    if (!equal(body.subarray(body.length - 4), blake(bytes, 4))) bad(field, 'has a wrong checksum');
    return bytes;
  };
  switch (protocol) {
    case 0: {
      if (!/^(0|[1-9][0-9]{0,19})$/.test(rest) || BigInt(rest) >= 1n << 63n) bad(field, 'is not a valid ID address');
      return Uint8Array.from([0, ...uvarint(BigInt(rest))]);
    }
    case 1:
    case 2:
      return checked([protocol], base32Decode(rest), 20);
    case 3:
      return checked([protocol], base32Decode(rest), 48);
    case 4: {
      const m = /^(0|[1-9][0-9]{0,19})f([a-z2-7]+)$/.exec(rest);
      if (m === null || BigInt(m[1]!) >= 1n << 63n) bad(field, 'is not a valid delegated (f4) address');
      const body = base32Decode(m[2]!);
      if (body !== undefined && body.length - 4 > 54) bad(field, 'has a sub-address longer than 54 bytes');
      return checked([4, ...uvarint(BigInt(m[1]!))], body);
    }
    default:
      bad(field, `has the unknown protocol ${JSON.stringify(a[1])}`);
  }
}

/** Filecoin's big-integer bytes: empty for zero, else 0x00 (positive) ‖ big-endian magnitude. */
function bigIntBytes(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0);
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Uint8Array.from([0, ...Buffer.from(hex, 'hex')]);
}

/** Attributes of a token amount (attoFIL), a decimal string in Lotus JSON. */
function tokenAmount(v: unknown, field: string): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]*)$/.test(v)) bad(field, 'must be a non-negative decimal string (attoFIL)');
  return quantity(v, field, 256);
}

function params(v: unknown): Uint8Array {
  if (v === undefined || v === null || v === '') return new Uint8Array(0);
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) bad('input.Params', 'must be base64 (as Lotus JSON carries bytes)');
  if (v.length > 4 * (1 << 20)) bad('input.Params', 'is larger than 3 MiB');
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/** Safe-integer JS numbers stay numbers (dag-cbor encodes both alike); larger ones become bigints. */
const int = (n: bigint): number | bigint => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);

export interface ParsedMessage {
  /** dag-cbor bytes of the unsigned message. */
  bytes: Uint8Array;
  cid: CID;
  /** The message back in canonical Lotus JSON. */
  json: FilecoinSignedResult['message'];
  from: string;
}

export function parseMessage(input: unknown): ParsedMessage {
  const o = object(input, 'input');
  onlyKeys(o, ['Version', 'To', 'From', 'Nonce', 'Value', 'GasLimit', 'GasFeeCap', 'GasPremium', 'Method', 'Params', 'CID'], 'input');
  if (o.Version !== undefined && o.Version !== 0) bad('input.Version', 'must be 0');
  for (const f of ['To', 'From', 'Nonce', 'Value', 'GasLimit', 'GasFeeCap', 'GasPremium', 'Method']) {
    if (o[f] === undefined) bad(`input.${f}`, 'is required');
  }
  const to = filAddressBytes(o.To, 'input.To');
  const from = filAddressBytes(o.From, 'input.From');
  const nonce = quantity(o.Nonce, 'input.Nonce', 64);
  const value = tokenAmount(o.Value, 'input.Value');
  const gasLimit = quantity(o.GasLimit, 'input.GasLimit', 63);
  const gasFeeCap = tokenAmount(o.GasFeeCap, 'input.GasFeeCap');
  const gasPremium = tokenAmount(o.GasPremium, 'input.GasPremium');
  const method = quantity(o.Method, 'input.Method', 64);
  const p = params(o.Params);
  const bytes = dagCbor.encode([0, to, from, int(nonce), bigIntBytes(value), int(gasLimit), bigIntBytes(gasFeeCap), bigIntBytes(gasPremium), int(method), p]);
  const cid = CID.createV1(DAG_CBOR, Digest.create(BLAKE2B_256, blake(bytes)));
  // A CID the producer computed itself must be this one (Lotus JSON carries it as {"/": "bafy…"}).
  if (o.CID !== undefined) {
    const c = o.CID as { '/'?: unknown } | null;
    const given = typeof c === 'object' && c !== null ? c['/'] : o.CID;
    if (given !== cid.toString()) bad('input.CID', `does not match the message (its CID is ${cid.toString()})`);
  }
  const json = {
    Version: 0 as const,
    To: String(o.To).toLowerCase(),
    From: String(o.From).toLowerCase(),
    Nonce: Number(nonce) <= Number.MAX_SAFE_INTEGER ? Number(nonce) : nonce.toString(),
    Value: value.toString(),
    GasLimit: Number(gasLimit) <= Number.MAX_SAFE_INTEGER ? Number(gasLimit) : gasLimit.toString(),
    GasFeeCap: gasFeeCap.toString(),
    GasPremium: gasPremium.toString(),
    Method: Number(method) <= Number.MAX_SAFE_INTEGER ? Number(method) : method.toString(),
    Params: Buffer.from(p).toString('base64'),
  };
  return { bytes, cid, json, from: json.From };
}

export function prepareFilecoinMessage(input: unknown): Prepared {
  const m = parseMessage(input);
  return {
    digest: blake(m.cid.bytes),
    sender: { field: 'input.From', address: m.from },
    finish: (sig: RawSignature) => {
      if (sig.recovery !== 0 && sig.recovery !== 1) throw new HwayError('E_INTERNAL', `recovery id ${sig.recovery} cannot be expressed in a Filecoin signature`);
      const data = new Uint8Array(65);
      data.set(sig.signature, 0);
      data[64] = sig.recovery;
      // The signed message, as Lotus stores and names it: [message, signature bytes (type ‖ data)].
      const signedBytes = dagCbor.encode([dagCbor.decode(m.bytes), Uint8Array.from([SIG_SECP256K1, ...data])]);
      const signedCid = CID.createV1(DAG_CBOR, Digest.create(BLAKE2B_256, blake(signedBytes)));
      return {
        message: m.json as unknown as { [k: string]: string | number },
        signature: { Type: SIG_SECP256K1, Data: Buffer.from(data).toString('base64') },
        cid: m.cid.toString(),
        signedCid: signedCid.toString(),
        signedMessage: Buffer.from(signedBytes).toString('hex'),
      };
    },
  };
}
