// enclaves/addresses.ts: eth (EIP-55) and Filecoin f1/t1 addresses of secp256k1 public keys, checked
// against published vectors and against independent oracles written in this file.
import { describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

import {
  addressMatchesKey,
  addressesOf,
  ethAddress,
  filAddress,
  parseAddress,
  toChecksumEthAddress,
  uncompressedPublicKey,
} from '../enclaves/addresses.js';
import { base32Decode, base32Encode } from '../enclaves/base32.js';
import { HwayError } from '../errors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HwayError);
    return (e as HwayError).code;
  }
  return undefined;
}

// --- independent oracles (deliberately written differently from the module) -------------------

/** EIP-55 straight from the EIP's reference: uppercase a hex letter when its hash nibble is > 7. */
function oracleEth(secretKey: Uint8Array): string {
  const pub = secp256k1.getPublicKey(secretKey, false);
  const addr = Buffer.from(keccak_256(pub.slice(1))).subarray(-20).toString('hex');
  const h = Buffer.from(keccak_256(Buffer.from(addr, 'ascii'))).toString('hex');
  return '0x' + [...addr].map((c, i) => (parseInt(h[i]!, 16) > 7 ? c.toUpperCase() : c)).join('');
}

/** Base32 via a string of bits, 5 at a time (RFC 4648 alphabet, lowercase, unpadded). */
function oracleBase32(bytes: Uint8Array): string {
  let bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
  bits += '0'.repeat((5 - (bits.length % 5)) % 5);
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

function oracleFil(secretKey: Uint8Array, network: 'f' | 't'): string {
  const payload = blake2b(secp256k1.getPublicKey(secretKey, false), { dkLen: 20 });
  const checksum = blake2b(Uint8Array.of(1, ...payload), { dkLen: 4 });
  return `${network}1${oracleBase32(Uint8Array.of(...payload, ...checksum))}`;
}

// --- vectors ---------------------------------------------------------------------------------------

// EIP-55's own examples, https://eips.ethereum.org/EIPS/eip-55 ("All caps", "All Lower", "Normal"):
// each is the checksummed form of its address, so the casing is the checksum's output.
const EIP55 = [
  '0x52908400098527886E0F7030069857D2E4169EE7',
  '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77',
  '0x27b1fdb04752bbc536007a920d24acb045561c26',
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
];

// Filecoin, from filecoin-project/go-address address_test.go, TestVectorSecp256k1Address
// (65-byte uncompressed keys, given there as decimal byte arrays; converted to hex here).
const GO_ADDRESS: Array<[string, string]> = [
  ['049402fac37e6432a416a3a0ca5426b5185ab3b24f6134efa25ce487c82d2e4e13bf452511e0d2245421f8613bc10d72fa216666a96c3bc13920d3ff233fd0bc05', '15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdrq'],
  ['047687b910379bf28cbe3aea674b12000c6b7dba46ffc05f6c94fe2a22bbcc2602ff7f5c76f21ca55d36959152b0e1e887917c393576eef093f61ebd3ad06f7fda', '12fiakbhe2gwd5cnmrenekasyn6v5tnaxaqizq6a'],
  ['04defdd01001efb86e01ded5ce34f847a73a14819ee641bcb60bb92993596f05dc2d605f2985f8d125812dac4163a396349b23c11cc2ff359de54be287ea62319b', '1wbxhu3ypkuo6eyp6hjx6davuelxaxrvwb2kuwva'],
  ['0403ed12c814b6b10d2ee09d95b4688db2d180d0a9a37a6b6a7db63d29811ee9730479d8ef9139e91249cabd393291cfe5d277ba76de45e3e085a37681bf3645d2', '1xtwapqc6nh4si2hcwpr3656iotzmlwumogqbuaa'],
  ['04f796819a8e271631af7c189797b545d60225936147e6010e6562b3ce9efe8b10144161a91ed0b4ec890800253fa6fc20ac90fbf1fbf27130a4ecc3e403b70576', '1xcbgdhkgkwht3hrrnui3jdopeejsoatkzmoltqy'],
  ['0442832bf87cce9ea345b90350de7d3495859ca449059c5e88dde74285dffb9ec01ebabc5fc86268cfeaeba7ae05bfb8d68eb75a5268782cf86fc8702bef8a1fe0', '17uoq6tp427uzv7fztkbsnn64iwotfrristwpryy'],
];

// Filecoin, from ebellocchia/bip_utils tests/addr/test_fil_addr.py (33-byte compressed keys,
// with the decoded 20-byte payload): exercises decompression too.
const BIP_UTILS: Array<[string, string, string]> = [
  ['0258742e7596b2cb998b42dddffd7b5c7ba30702876f899d6f7188d23285fc3208', '3c07040c8746bfe1485021ca57623f866edd15d4', 'f1hqdqidehi276cscqehffoyr7qzxn2foumjpq5zq'],
  ['03ad9c631c2fac4adca03c1abf9e473dc9bd6dca7868e6b961ebb81547819c6e8c', 'b3f7b860d78adcde02e33a19d141782bebfed9ca', 'f1wp33qygxrlon4axdhim5cqlyfpv75wokvcfdgyy'],
  ['036d34f7fde5eedcea7c35e59112abee4786190cec263469b8a92fa15222999cff', '9ddfdb18c55926e6817d4545c1886a30a487d8dc', 'f1txp5wggfletonal5ivc4dcdkgcsipwg4fte42wi'],
  ['03560c22685ce5837b897bd553a4e23af0bf464ef72ddbb32d252d1fbcec4f8c81', '56cc818223ca3165efed0b4b600fc4011cc87f97', 'f1k3gidardziywl37nbnfwad6eaeomq74xwcs2wxq'],
  ['021e8c1330274bd99ba01e019f2cbe07e8822f8b8919f4c1cb38d389903d67f158', '66b8a34e79114e30c6d8f96eb486878afc398c50', 'f1m24kgttzcfhdbrwy7fxljbuhrl6dtdcqhy4xnla'],
];

// bip_utils' TEST_VECT_DEC_INVALID (same file): every one must be rejected.
const BIP_UTILS_INVALID = [
  'g1k3gidardziywl37nbnfwad6eaeomq74xwcs2wxq', // invalid prefix
  'f2m24kgttzcfhdbrwy7fxljbuhrl6dtdcqhy4xnla', // invalid address type
  'f1hqdqidehi276cscqehffoyr7qzxn2f0umjpq5zq', // invalid encoding ('0')
  'f1y7pzdgdbeuuhazhrreys26a22fcv4ycjpi6hrxa', // invalid checksum
  'f1y7pzdgdbeuuhazhrreys26a22fcv4ycjrxwpq', // invalid lengths
  'f1y7pzdgdbeuuhazhrreys26a22fcv4ycjlelq3qtb',
];

const ONE = hex('0000000000000000000000000000000000000000000000000000000000000001');
const TWO = hex('0000000000000000000000000000000000000000000000000000000000000002');

describe('base32 (RFC 4648, lowercase, unpadded)', () => {
  // RFC 4648 §10 test vectors, lowercased and without '='.
  test.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('%j ↔ %j', (plain, encoded) => {
    expect(base32Encode(new TextEncoder().encode(plain))).toBe(encoded);
    expect(Buffer.from(base32Decode(encoded)!).toString()).toBe(plain);
  });

  test('matches the bit-string oracle on random lengths, and round trips', () => {
    for (let n = 0; n < 64; n++) {
      const b = new Uint8Array(randomBytes(n));
      expect(base32Encode(b)).toBe(oracleBase32(b));
      expect(toHex(base32Decode(base32Encode(b))!)).toBe(toHex(b));
    }
  });

  test('rejects non-canonical input: bad characters, upper case, impossible lengths, stray bits', () => {
    for (const s of ['m0', 'my=', 'MY', 'm', 'mzx', 'mzxw6y', 'mz', 'mzxr']) expect(base32Decode(s)).toBeUndefined();
  });
});

describe('eth addresses', () => {
  test.each(EIP55)('EIP-55 vector %s', (vector) => {
    expect(toChecksumEthAddress(vector.slice(2).toLowerCase())).toBe(vector);
    expect(toChecksumEthAddress(vector.slice(2).toUpperCase())).toBe(vector);
    expect(parseAddress(vector)).toEqual({ kind: 'eth', canonical: vector });
    expect(parseAddress(vector.toLowerCase()).canonical).toBe(vector);
    expect(parseAddress('0x' + vector.slice(2).toUpperCase()).canonical).toBe(vector);
  });

  test('private keys 1 and 2 give their well-known addresses, from compressed and uncompressed keys', () => {
    for (const [sk, addr] of [
      [ONE, '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf'],
      [TWO, '0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF'],
    ] as const) {
      expect(ethAddress(secp256k1.getPublicKey(sk, true))).toBe(addr);
      expect(ethAddress(secp256k1.getPublicKey(sk, false))).toBe(addr);
    }
  });

  test('200 random keys agree with the independent oracle', () => {
    for (let i = 0; i < 200; i++) {
      const sk = secp256k1.utils.randomSecretKey();
      const expected = oracleEth(sk);
      expect(ethAddress(secp256k1.getPublicKey(sk, true))).toBe(expected);
      expect(ethAddress(secp256k1.getPublicKey(sk, false))).toBe(expected);
    }
  });

  test('a mixed-case address with a wrong checksum is rejected (every single-letter case flip)', () => {
    const good = EIP55[4]!; // 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed
    let flips = 0;
    for (let i = 2; i < good.length; i++) {
      const c = good[i]!;
      if (!/[a-fA-F]/.test(c)) continue;
      const bad = good.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + good.slice(i + 1);
      expect(codeOf(() => parseAddress(bad))).toBe('E_BAD_INPUT');
      flips++;
    }
    expect(flips).toBeGreaterThan(10);
  });

  test.each([
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe', // 39 digits
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd', // 41 digits
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg', // not hex
    '5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', // no 0x
    '0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED', // 0X
    ' 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed',
    '',
  ])('malformed %j → E_BAD_INPUT', (s) => {
    expect(codeOf(() => parseAddress(s))).toBe('E_BAD_INPUT');
  });
});

describe('fil addresses', () => {
  test.each(GO_ADDRESS)('go-address vector %#: f1/t1 of an uncompressed key', (pub, tail) => {
    expect(filAddress(hex(pub))).toBe(`f${tail}`);
    expect(filAddress(hex(pub), 't')).toBe(`t${tail}`);
    // the same key, compressed, gives the same address
    const compressed = secp256k1.Point.fromBytes(hex(pub)).toBytes(true);
    expect(filAddress(compressed)).toBe(`f${tail}`);
    expect(parseAddress(`f${tail}`)).toEqual({ kind: 'fil', canonical: `f${tail}`, network: 'f' });
    expect(parseAddress(`t${tail}`)).toEqual({ kind: 'fil', canonical: `t${tail}`, network: 't' });
  });

  test.each(BIP_UTILS)('bip_utils vector %#: compressed key %s', (pub, payload, address) => {
    expect(filAddress(hex(pub))).toBe(address);
    expect(toHex(blake2b(uncompressedPublicKey(hex(pub)), { dkLen: 20 }))).toBe(payload);
    expect(base32Decode(address.slice(2))!.subarray(0, 20)).toEqual(hex(payload));
  });

  test.each(BIP_UTILS_INVALID)('bip_utils invalid vector %s → E_BAD_INPUT', (s) => {
    expect(codeOf(() => parseAddress(s))).toBe('E_BAD_INPUT');
  });

  test('200 random keys agree with the independent oracle (f and t)', () => {
    for (let i = 0; i < 200; i++) {
      const sk = secp256k1.utils.randomSecretKey();
      expect(filAddress(secp256k1.getPublicKey(sk, true))).toBe(oracleFil(sk, 'f'));
      expect(filAddress(secp256k1.getPublicKey(sk, false), 't')).toBe(oracleFil(sk, 't'));
    }
  });

  test('every single-character substitution of an f1 address is rejected (checksum or encoding)', () => {
    const good = `f${GO_ADDRESS[0]![1]}`;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    let tried = 0;
    for (let i = 2; i < good.length; i++) {
      for (const c of alphabet) {
        if (c === good[i]) continue;
        const bad = good.slice(0, i) + c + good.slice(i + 1);
        expect(codeOf(() => parseAddress(bad))).toBe('E_BAD_INPUT');
        tried++;
      }
    }
    expect(tried).toBe(39 * 31);
  });

  test('upper case is accepted and normalised; mixed case is not', () => {
    const good = `f${GO_ADDRESS[1]![1]}`;
    expect(parseAddress(good.toUpperCase()).canonical).toBe(good);
    expect(codeOf(() => parseAddress('F' + good.slice(1)))).toBe('E_BAD_INPUT');
  });

  test.each(['f01024', 'f24vg6ut43yw2h2jqydgbg2xq7x6f4kub3bg6as6i', 'f410fabcdefgh', 'f1', 'x1abc', 'f15ihq5ibzwki2b4ep2f46avlkrqzhpqgtga7pdr'])(
    'not an f1/t1 secp256k1 address: %j → E_BAD_INPUT',
    (s) => {
      expect(codeOf(() => parseAddress(s))).toBe('E_BAD_INPUT');
    },
  );

  test('a bad network for formatting → E_BAD_INPUT', () => {
    expect(codeOf(() => filAddress(secp256k1.getPublicKey(ONE), 'x' as 'f'))).toBe('E_BAD_INPUT');
  });
});

describe('keys, round trips and matching', () => {
  test('addressesOf gives both, and parse(format(x)) is x', () => {
    for (let i = 0; i < 50; i++) {
      const sk = secp256k1.utils.randomSecretKey();
      const pub = secp256k1.getPublicKey(sk, true);
      const a = addressesOf(pub);
      expect(a).toEqual({ eth: oracleEth(sk), fil: oracleFil(sk, 'f') });
      expect(addressesOf(pub, { filNetwork: 't' }).fil).toBe(oracleFil(sk, 't'));
      expect(parseAddress(a.eth)).toEqual({ kind: 'eth', canonical: a.eth });
      expect(parseAddress(a.fil)).toEqual({ kind: 'fil', canonical: a.fil, network: 'f' });
      expect(parseAddress(parseAddress(a.eth.toLowerCase()).canonical).canonical).toBe(a.eth);
    }
  });

  test('addressMatchesKey: both kinds, any spelling, either network; false for another key', () => {
    const pub1 = secp256k1.getPublicKey(ONE, true);
    const pub2 = secp256k1.getPublicKey(TWO, false);
    const a1 = addressesOf(pub1);
    for (const spelling of [a1.eth, a1.eth.toLowerCase(), '0x' + a1.eth.slice(2).toUpperCase(), a1.fil, 't' + a1.fil.slice(1), a1.fil.toUpperCase()]) {
      expect(addressMatchesKey(spelling, pub1)).toBe(true);
      expect(addressMatchesKey(spelling, secp256k1.getPublicKey(ONE, false))).toBe(true);
      expect(addressMatchesKey(spelling, pub2)).toBe(false);
    }
    expect(codeOf(() => addressMatchesKey('0x1234', pub1))).toBe('E_BAD_INPUT');
    expect(codeOf(() => addressMatchesKey(a1.eth, new Uint8Array(33)))).toBe('E_INVALID_KEY');
  });

  test('invalid public keys → E_INVALID_KEY', () => {
    const good = secp256k1.getPublicKey(ONE, false);
    const notOnCurve = good.slice();
    notOnCurve[64] ^= 1; // Y no longer matches X
    const badX = new Uint8Array(33).fill(0xff); // X ≥ p
    badX[0] = 0x02;
    for (const k of [
      new Uint8Array(0),
      new Uint8Array(32),
      new Uint8Array(64),
      Uint8Array.of(0x05, ...good.subarray(1)), // wrong prefix for 65 bytes
      Uint8Array.of(0x04, ...secp256k1.getPublicKey(ONE, true).subarray(1)), // 04 on a 33-byte key
      Uint8Array.of(0x06, ...good.subarray(1)), // hybrid encoding is not accepted
      notOnCurve,
      badX,
      new Uint8Array(65).fill(0).map((_, i) => (i === 0 ? 4 : 0)), // point (0,0)
    ]) {
      expect(codeOf(() => ethAddress(k))).toBe('E_INVALID_KEY');
      expect(codeOf(() => filAddress(k))).toBe('E_INVALID_KEY');
    }
  });

  test('a Node Buffer is accepted as a key (Buffers come from another realm under jest)', () => {
    const pub = Buffer.from(secp256k1.getPublicKey(ONE, true));
    expect(ethAddress(pub)).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
    expect(addressMatchesKey(filAddress(pub), pub)).toBe(true);
    // A Uint8Array of a genuinely foreign realm (fails `instanceof Uint8Array` here).
    const foreign = vm.runInNewContext(`new Uint8Array([${[...pub].join(',')}])`) as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect(ethAddress(foreign)).toBe('0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf');
  });

  test('parses are remembered safely: the same answer again, frozen, and bad input refused every time', () => {
    const keys = Array.from({ length: 5000 }, () => secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false));
    const first = addressesOf(keys[0]!);
    const eth = parseAddress(first.eth.toLowerCase());
    expect(eth.canonical).toBe(first.eth);
    expect(Object.isFrozen(eth)).toBe(true);
    // A caller that tries to change a remembered answer cannot change the next caller's.
    expect(() => {
      (eth as { canonical: string }).canonical = '0xbad';
    }).toThrow(TypeError);
    expect(parseAddress(first.eth.toLowerCase()).canonical).toBe(first.eth);
    // More distinct addresses than are kept: every one still parses to its own canonical spelling.
    for (const k of keys) expect(parseAddress(filAddress(k, 't'))).toEqual({ kind: 'fil', canonical: filAddress(k, 't'), network: 't' });
    expect(parseAddress(first.eth.toLowerCase()).canonical).toBe(first.eth);
    // A refusal is never remembered as an answer, and a remembered spelling vouches for no other.
    const good = EIP55[4]!;
    const i = good.search(/[a-f]/);
    const flipped = good.slice(0, i) + good[i]!.toUpperCase() + good.slice(i + 1);
    expect(parseAddress(good.toLowerCase()).canonical).toBe(good);
    for (let n = 0; n < 2; n++) expect(codeOf(() => parseAddress(flipped))).toBe('E_BAD_INPUT');
    expect(parseAddress(good).canonical).toBe(good);
  });

  test('uncompressedPublicKey decompresses 33-byte keys and keeps 65-byte ones', () => {
    const sk = secp256k1.utils.randomSecretKey();
    const full = secp256k1.getPublicKey(sk, false);
    expect(toHex(uncompressedPublicKey(secp256k1.getPublicKey(sk, true)))).toBe(toHex(full));
    expect(toHex(uncompressedPublicKey(full))).toBe(toHex(full));
  });
});
