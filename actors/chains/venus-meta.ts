// Venus `MsgMeta` types, and what a Venus wallet signs for each. One module for every party that
// hashes them: the JSON-RPC front door (actors/http/rpc/), the gateway (knownDigest: it checks a
// wallet's signature and signs with a vault), and wallets (digestFor in connector.ts), so they agree.
//
// Sources matched (filecoin-project/venus, venus-shared):
//   types/msg_meta.go             MsgType strings (note the upstream spelling "networkresposne")
//   types/wallet/sign_types.go    SupportedMsgTypes / GetSignBytesAndObj: how each type's sign bytes
//                                 are derived from toSign (and, for "message", from MsgMeta.Extra)
//   types/wallet/draw_random_params.go   DrawRandomParams.SignBytes
//   types/block_header.go         BlockHeader.SignatureData (the header with BlockSig = nil)
// and filecoin-project/venus-wallet storage/wallet/wallet.go WalletSign (signer must be the
// message's From; a "message" signs toSign itself), specs-actors v2 paych SignedVoucher.SigningBytes,
// go-fil-markets migrations.StorageAsk0, go-cbor-util AsIpld (CIDv1 dag-cbor, sha2-256).
//
// A secp256k1 key signs blake2b-256(signBytes) (go-crypto, as Lotus): 65 bytes r ‖ s ‖ v, type 1.
// Inside Highway a Venus type travels as SignMeta { type: "venus-<MsgType>", extra: base64(Extra) }.
//
// Checked as Venus checks: "message" needs Extra, a CBOR message whose From is the signer and whose
// CID is toSign (the CID is computed by the fil-message scheme's code, chains/filecoin.ts); the
// structured types must decode as CBOR of their shape (field count, or map keys, not each field's
// type). "verifyaddress" is refused: a Venus wallet signs it only as a proof of its own address
// for a Venus gateway (sha256(Extra ‖ the wallet's own random bytes)), which no producer can make.
import * as dagCbor from '@ipld/dag-cbor';
import { blake2b } from '@noble/hashes/blake2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { base32Encode } from '../../enclaves/base32.js';
import { HwayError } from '../../errors.js';
import { filAddressBytes, parseMessage } from './filecoin.js';

/** Every MsgType of venus-shared/types/msg_meta.go (MTUndefined "" excepted: Venus refuses it too). */
export const VENUS_MSG_TYPES = [
  'unknown',
  'message',
  'block',
  'dealproposal',
  'drawrandomparam',
  'signedvoucher',
  'storageask',
  'askresponse',
  'networkresposne',
  'clientdeal',
  'providerdealstate',
  'verifyaddress',
  'f3',
] as const;
export type VenusMsgType = (typeof VENUS_MSG_TYPES)[number];

/** The gateway's meta.type of a Venus MsgType. */
export const VENUS_META_PREFIX = 'venus-';
export const venusMetaType = (t: VenusMsgType): string => `${VENUS_META_PREFIX}${t}`;

export function isVenusMsgType(t: unknown): t is VenusMsgType {
  return typeof t === 'string' && (VENUS_MSG_TYPES as readonly string[]).includes(t);
}

/** The Venus MsgType named by a gateway meta.type ("venus-block" → "block"), or undefined. */
export function venusMsgTypeOf(metaType: string): VenusMsgType | undefined {
  if (!metaType.startsWith(VENUS_META_PREFIX)) return undefined;
  const t = metaType.slice(VENUS_META_PREFIX.length);
  return isVenusMsgType(t) ? t : undefined;
}

const badPayload = (message: string): never => {
  throw new HwayError('E_BAD_PAYLOAD', message, { permanent: true });
};

/**
 * Bytes as Go's encoding/json carries []byte: standard base64 with padding; null is no bytes.
 * E_BAD_PAYLOAD naming `field` otherwise.
 */
export function base64Bytes(v: unknown, field: string): Uint8Array {
  if (v === null || v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) badPayload(`${field} must be standard base64 (padded), as Go's encoding/json writes []byte`);
  return new Uint8Array(Buffer.from(v as string, 'base64'));
}

function decodeCbor(b: Uint8Array, what: string): unknown {
  try {
    return dagCbor.decode(b);
  } catch (e) {
    return badPayload(`toSign is not the CBOR of a ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function tuple(b: Uint8Array, what: string, fields: number): unknown[] {
  const v = decodeCbor(b, what);
  if (!Array.isArray(v) || v.length !== fields) badPayload(`toSign is not a ${what} (a CBOR array of ${fields} fields)`);
  return v as unknown[];
}

function record(v: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || CID.asCID(v) !== null) badPayload(`${what} must be a CBOR map`);
  const o = v as Record<string, unknown>;
  const given = Object.keys(o);
  const missing = keys.filter((k) => !(k in o));
  const unknown = given.filter((k) => !keys.includes(k));
  if (missing.length > 0 || unknown.length > 0) badPayload(`${what} must have exactly the fields ${keys.join(', ')}${missing.length ? ` (missing ${missing.join(', ')})` : ''}${unknown.length ? ` (unknown ${unknown.join(', ')})` : ''}`);
  return o;
}

/** cborutil.Dump of what decoded: Go re-marshals the object, so the canonical encoding is signed. */
const redump = (v: unknown): Uint8Array => dagCbor.encode(v);

// cbor-gen map-encoded types of go-fil-markets (storagemarket/types.go, storagemarket/network/types.go).
const STORAGE_ASK = ['Price', 'VerifiedPrice', 'MinPieceSize', 'MaxPieceSize', 'Miner', 'Timestamp', 'Expiry', 'SeqNo'] as const;
const NETWORK_RESPONSE = ['State', 'Message', 'Proposal', 'PublishMessage'] as const;
const PROVIDER_DEAL_STATE = ['State', 'Message', 'Proposal', 'ProposalCid', 'AddFundsCid', 'PublishCid', 'DealID', 'FastRetrieval'] as const;
/** specs-actors market.DealProposal: PieceCID … ClientCollateral. */
const DEAL_PROPOSAL_FIELDS = 11;
/** venus-shared types.BlockHeader: 16 fields, BlockSig at 13. */
const BLOCK_FIELDS = 16;
const BLOCK_SIG = 13;
/** specs-actors v2 paych.SignedVoucher: 11 fields, Signature last. */
const VOUCHER_FIELDS = 11;
const VOUCHER_SIG = 10;

function uvarint(b: Uint8Array, at: number): { value: bigint; end: number } {
  let value = 0n;
  for (let i = at, shift = 0n; i < b.length && shift < 70n; i++, shift += 7n) {
    value |= BigInt(b[i]! & 0x7f) << shift;
    if ((b[i]! & 0x80) === 0) return { value, end: i + 1 };
  }
  return badPayload('an address in the message has a malformed varint');
}

/** The string of an address's byte form (protocol ‖ payload), network f: the inverse of filAddressBytes. */
function filAddressString(b: unknown, field: string): string {
  if (!(b instanceof Uint8Array) || b.length < 2) return badPayload(`${field} is not an address (bytes)`);
  const checksum = (): string => base32Encode(Uint8Array.from([...b.subarray(b[0] === 4 ? uvarint(b, 1).end : 1), ...blake2b(b, { dkLen: 4 })]));
  switch (b[0]) {
    case 0: {
      const { value, end } = uvarint(b, 1);
      if (end !== b.length) badPayload(`${field} is not an ID address`);
      return `f0${value}`;
    }
    case 1:
    case 2:
    case 3:
      return `f${b[0]}${checksum()}`;
    case 4:
      return `f4${uvarint(b, 1).value}f${checksum()}`;
    default:
      return badPayload(`${field} has the unknown address protocol ${b[0]}`);
  }
}

/** A big.Int's bytes (sign byte ‖ big-endian magnitude; empty for zero) as a decimal string. */
function bigIntString(b: unknown, field: string): string {
  if (!(b instanceof Uint8Array)) return badPayload(`${field} is not a big integer (bytes)`);
  if (b.length === 0) return '0';
  if (b[0] !== 0) badPayload(`${field} must not be negative`);
  return b.length === 1 ? '0' : BigInt(`0x${Buffer.from(b.subarray(1)).toString('hex')}`).toString();
}

function uint(v: unknown, field: string): string {
  if ((typeof v !== 'number' || !Number.isInteger(v) || v < 0) && (typeof v !== 'bigint' || v < 0n)) return badPayload(`${field} must be a non-negative integer`);
  return String(v);
}

/**
 * A chain message's Extra (venus-shared types.DecodeMessage: the CBOR of an unsigned message), turned
 * into Lotus JSON so that the fil-message scheme's parser validates it and computes its CID.
 */
function decodeChainMessage(extra: Uint8Array): ReturnType<typeof parseMessage> {
  let v: unknown;
  try {
    v = dagCbor.decode(extra);
  } catch (e) {
    return badPayload(`MsgMeta.Extra is not the CBOR of a message: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Array.isArray(v) || v.length !== 10) return badPayload('MsgMeta.Extra is not a message (a CBOR array of 10 fields)');
  const [version, to, from, nonce, value, gasLimit, gasFeeCap, gasPremium, method, params] = v as unknown[];
  if (version !== 0) badPayload('MsgMeta.Extra: the message version must be 0');
  if (!(params instanceof Uint8Array)) badPayload('MsgMeta.Extra: Params must be bytes');
  return parseMessage({
    Version: 0,
    To: filAddressString(to, 'MsgMeta.Extra To'),
    From: filAddressString(from, 'MsgMeta.Extra From'),
    Nonce: uint(nonce, 'MsgMeta.Extra Nonce'),
    Value: bigIntString(value, 'MsgMeta.Extra Value'),
    GasLimit: uint(gasLimit, 'MsgMeta.Extra GasLimit'),
    GasFeeCap: bigIntString(gasFeeCap, 'MsgMeta.Extra GasFeeCap'),
    GasPremium: bigIntString(gasPremium, 'MsgMeta.Extra GasPremium'),
    Method: uint(method, 'MsgMeta.Extra Method'),
    Params: Buffer.from(params as Uint8Array).toString('base64'),
  });
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function int64be(v: unknown, field: string): Uint8Array {
  const n = v === undefined || v === null ? 0n : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'bigint' ? v : badPayload(`${field} must be an integer`);
  if (n < -(1n << 63n) || n >= 1n << 63n) badPayload(`${field} must fit 64 bits`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, n);
  return out;
}

/** fxamacker/cbor decodes a struct from a map, matching keys to field names case-insensitively; a missing field stays zero. */
function fieldOf(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}

function bytesOf(v: unknown, field: string): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (!(v instanceof Uint8Array)) return badPayload(`${field} must be bytes`);
  return v;
}

export interface VenusSignInput {
  toSign: Uint8Array;
  type: VenusMsgType;
  /** MsgMeta.Extra (needed by "message"). */
  extra?: Uint8Array;
  /** The signing address; when given, a "message" must be from it (E_FORBIDDEN otherwise). */
  signer?: string;
}

/**
 * What a Venus wallet signs for `type` (GetSignBytesAndObj's sign bytes), after Venus's checks:
 * E_BAD_PAYLOAD for input Venus would refuse, E_FORBIDDEN for a message from another address.
 */
export function venusSignBytes({ toSign, type, extra, signer }: VenusSignInput): Uint8Array {
  switch (type) {
    case 'unknown':
    case 'f3':
      return toSign;
    case 'message': {
      if (extra === undefined || extra.length === 0) return badPayload('a "message" MsgMeta must carry the message in Extra');
      const m = decodeChainMessage(extra);
      if (signer !== undefined) {
        let same = false;
        try {
          same = equal(filAddressBytes(signer, 'signer'), filAddressBytes(m.from, 'From'));
        } catch {
          same = false; // not a Filecoin address: not the message's sender either
        }
        if (!same) throw new HwayError('E_FORBIDDEN', `signer ${signer} is not the message's sender ${m.from}`, { permanent: true });
      }
      if (!equal(toSign, m.cid.bytes)) badPayload(`toSign is not the CID of the message in Extra (${m.cid.toString()})`);
      // venus-wallet signs the data passed (equal to the CID here), not a recomputed value.
      return toSign;
    }
    case 'block': {
      const h = tuple(toSign, 'block header', BLOCK_FIELDS);
      h[BLOCK_SIG] = null;
      return redump(h);
    }
    case 'signedvoucher': {
      const sv = tuple(toSign, 'signed voucher', VOUCHER_FIELDS);
      sv[VOUCHER_SIG] = null;
      return redump(sv);
    }
    case 'dealproposal':
      return redump(tuple(toSign, 'deal proposal', DEAL_PROPOSAL_FIELDS));
    case 'clientdeal': {
      const cd = tuple(toSign, 'client deal proposal', 2);
      if (!Array.isArray(cd[0]) || cd[0].length !== DEAL_PROPOSAL_FIELDS) badPayload('toSign is not a client deal proposal (its Proposal is not a deal proposal)');
      // cborutil.AsIpld(proposal).Cid(): CIDv1, dag-cbor, sha2-256 of the canonical bytes.
      return CID.createV1(dagCbor.code, Digest.create(0x12, sha256(redump(cd)))).bytes;
    }
    case 'storageask':
      return redump(record(decodeCbor(toSign, 'storage ask'), 'toSign (a storage ask)', STORAGE_ASK));
    case 'networkresposne':
      return redump(record(decodeCbor(toSign, 'network response'), 'toSign (a network response)', NETWORK_RESPONSE));
    case 'providerdealstate':
      return redump(record(decodeCbor(toSign, 'provider deal state'), 'toSign (a provider deal state)', PROVIDER_DEAL_STATE));
    case 'askresponse': {
      // The ask is signed in its version-0 form: a tuple of the same eight fields (migrations.StorageAsk0).
      const r = record(decodeCbor(toSign, 'ask response'), 'toSign (an ask response)', ['Ask']);
      const signed = record(r.Ask, 'Ask (a signed storage ask)', ['Ask', 'Signature']);
      const ask = record(signed.Ask, 'Ask.Ask (a storage ask)', STORAGE_ASK);
      return redump(STORAGE_ASK.map((k) => ask[k]));
    }
    case 'drawrandomparam': {
      const v = decodeCbor(toSign, 'DrawRandomParams');
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return badPayload('toSign is not DrawRandomParams (a CBOR map)');
      const p = v as Record<string, unknown>;
      // blake2b-256(int64 BE Pers ‖ blake2b-256(Rbase) ‖ int64 BE Round ‖ Entropy): DrawRandomness.
      const rbase = bytesOf(fieldOf(p, 'Rbase'), 'Rbase');
      const entropy = bytesOf(fieldOf(p, 'Entropy'), 'Entropy');
      const pers = int64be(fieldOf(p, 'Pers'), 'Pers');
      const round = int64be(fieldOf(p, 'Round'), 'Round');
      return blake2b(Uint8Array.from([...pers, ...blake2b(rbase, { dkLen: 32 }), ...round, ...entropy]), { dkLen: 32 });
    }
    case 'verifyaddress':
      return badPayload('MsgMeta type "verifyaddress" is a wallet proving its own address to a Venus gateway: it is not signed for producers (Highway wallets prove their addresses in the gateway handshake)');
  }
}

/**
 * The 32-byte digest a secp256k1 key signs for gateway meta type `metaType` ("venus-…"):
 * blake2b-256 of the sign bytes; undefined when `metaType` is not a Venus type. `extra` is
 * SignMeta.extra (base64 of MsgMeta.Extra, or absent).
 */
export function venusDigest(toSign: Uint8Array, metaType: string, extra?: unknown, signer?: string): Uint8Array | undefined {
  const type = venusMsgTypeOf(metaType);
  if (type === undefined) return undefined;
  const x = extra === undefined || extra === null ? undefined : base64Bytes(extra, 'meta.extra');
  const signBytes = venusSignBytes({ toSign, type, ...(x === undefined ? {} : { extra: x }), ...(signer === undefined ? {} : { signer }) });
  return blake2b(signBytes, { dkLen: 32 });
}
