// The Venus MsgMeta types without a node: for each one, what Highway signs (actors/chains/venus-meta.ts)
// is what a Venus wallet signs, as derived in ./fixtures/venus-samples.ts from the Go definitions
// (and, for a chain message, from @zondax/filecoin-signing-tools' serialization and CID); the checks
// Venus makes refuse what it refuses; wallets (digestFor) and the gateway (knownDigest) agree.
import { describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { base64Bytes, venusDigest, venusMetaType, venusMsgTypeOf, venusSignBytes, VENUS_MSG_TYPES, type VenusMsgType } from '../actors/chains/venus-meta.js';
import { digestFor } from '../actors/gateway/connector.js';
import { parseToWallet } from '../actors/gateway/frames.js';
import { knownDigest } from '../actors/gateway/signatures.js';
import { addressesOf } from '../enclaves/addresses.js';
import { build, chainMessage, samples, zondax } from './fixtures/venus-samples.js';

const key = addressesOf(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false));
const other = addressesOf(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sign = (toSign: Uint8Array, type: string, extra?: Uint8Array, signer?: string): Uint8Array =>
  venusSignBytes({ toSign, type: type as VenusMsgType, ...(extra ? { extra } : {}), ...(signer ? { signer } : {}) });

describe('Venus MsgMeta types', () => {
  test('every type has a gateway meta.type that wallet frames accept, and back', () => {
    for (const t of VENUS_MSG_TYPES) {
      const metaType = venusMetaType(t);
      expect(venusMsgTypeOf(metaType)).toBe(t);
      // What a wallet parses from the gateway (frames.ts) takes the name as it is.
      const f = parseToWallet({ t: 'sign', id: 'req-00000001', reply: 'chan', address: key.fil, bytes: '00', meta: { type: metaType, extra: 'AA==' }, deadline: 1 });
      expect(f).toMatchObject({ meta: { type: metaType, extra: 'AA==' } });
    }
    expect(venusMsgTypeOf('venus-nosuchtype')).toBeUndefined();
    expect(venusMsgTypeOf('message')).toBeUndefined();
  });

  test('sign bytes are what a Venus wallet signs, for each type', () => {
    const all = samples(key.fil, other.fil);
    expect(all.map((s) => s.type).sort()).toEqual(VENUS_MSG_TYPES.filter((t) => t !== 'verifyaddress').sort());
    for (const s of all) {
      expect({ type: s.type, bytes: hex(sign(s.toSign, s.type, s.extra, key.fil)) }).toEqual({ type: s.type, bytes: hex(s.signBytes) });
      // The wallet's digest and the gateway's are blake2b-256 of those bytes (Lotus's secp256k1 signing).
      const expected = hex(blake2b(s.signBytes, { dkLen: 32 }));
      const meta = { type: venusMetaType(s.type as VenusMsgType), ...(s.extra ? { extra: b64(s.extra) } : {}) };
      expect(hex(digestFor(s.toSign, meta, key.fil))).toBe(expected);
      expect(hex(knownDigest(s.toSign, meta.type, meta.extra)!)).toBe(expected);
    }
  });

  test('a chain message: toSign must be the CID of the message in Extra, and the signer its From', () => {
    const m = chainMessage(key.fil, other.fil);
    // Either network spelling of the signer is its address.
    expect(hex(sign(m.toSign, 'message', m.extra, `t${key.fil.slice(1)}`))).toBe(hex(m.toSign));
    // Another message's CID.
    const n = chainMessage(key.fil, other.fil, 8);
    expect(() => sign(n.toSign, 'message', m.extra, key.fil)).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD', message: expect.stringContaining('not the CID of the message') }));
    // No Extra, or Extra that is no message.
    expect(() => sign(m.toSign, 'message', undefined, key.fil)).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    expect(() => sign(m.toSign, 'message', build.enc([1, 2, 3]), key.fil)).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    expect(() => sign(m.toSign, 'message', new Uint8Array([0xff, 0x00]), key.fil)).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    // A message from someone else, whatever spelling of the signer.
    expect(() => sign(m.toSign, 'message', m.extra, other.fil)).toThrow(expect.objectContaining({ code: 'E_FORBIDDEN' }));
    expect(() => sign(m.toSign, 'message', m.extra, key.eth)).toThrow(expect.objectContaining({ code: 'E_FORBIDDEN' }));
    // The gateway has no signer to compare (the wallet and the RPC door do), but checks the CID.
    expect(() => knownDigest(n.toSign, 'venus-message', b64(m.extra))).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    expect(() => knownDigest(m.toSign, 'venus-message')).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
    expect(() => digestFor(m.toSign, { type: 'venus-message', extra: b64(m.extra) }, other.fil)).toThrow(expect.objectContaining({ code: 'E_FORBIDDEN' }));
    // zondax agrees the Extra is the message it serialized.
    expect(zondax.transactionSerialize(m.lotus)).toBe(hex(m.extra));
  });

  test('structured types must have their shape; verifyaddress is refused', () => {
    const bad: Array<[string, Uint8Array]> = [
      ['block', build.enc(build.blockHeader(null).slice(0, 15))],
      ['block', new Uint8Array([0x9f])],
      ['dealproposal', build.enc({ PieceCID: 1 })],
      ['clientdeal', build.enc([[1, 2], new Uint8Array(66)])],
      ['signedvoucher', build.enc(build.voucher(null).concat([1]))],
      ['storageask', build.enc({ ...build.storageAsk(), Extra: 1 })],
      ['storageask', build.enc(Object.fromEntries(Object.entries(build.storageAsk()).filter(([k]) => k !== 'SeqNo')))],
      ['askresponse', build.enc({ Ask: null })],
      ['networkresposne', build.enc([7, '', null, null])],
      ['providerdealstate', build.enc({ State: 1 })],
      ['drawrandomparam', build.enc([1, 2, 3, 4])],
      ['drawrandomparam', build.enc({ Rbase: 'not bytes', Pers: 1, Round: 1, Entropy: new Uint8Array(0) })],
      ['verifyaddress', new Uint8Array(randomBytes(32))],
    ];
    for (const [type, toSign] of bad) {
      expect({ type, code: (() => { try { sign(toSign, type); return 'signed'; } catch (e) { return (e as { code?: string }).code; } })() }).toEqual({ type, code: 'E_BAD_PAYLOAD' });
    }
    // Anything that is not a Venus type is none of this module's business.
    expect(venusDigest(new Uint8Array(32), 'sha256')).toBeUndefined();
  });

  test('bytes travel as Go writes []byte: padded standard base64, null for none', () => {
    expect(base64Bytes('aGk=', 'x')).toEqual(new Uint8Array([0x68, 0x69]));
    expect(base64Bytes(null, 'x')).toEqual(new Uint8Array(0));
    for (const v of ['aGk', 'aGk_', 'a Gk=', 42, {}]) expect(() => base64Bytes(v, 'x')).toThrow(expect.objectContaining({ code: 'E_BAD_PAYLOAD' }));
  });
});
