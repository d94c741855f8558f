// Ethereum schemes, all encodings by viem (no hand-written RLP or EIP-712 hashing):
//   eth-personal  EIP-191 personal_sign: keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message)  (viem hashMessage)
//   eth-typed     EIP-712 typed data: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))      (viem hashTypedData)
//   eth-tx        legacy (EIP-155), EIP-2930, EIP-1559: keccak256 of the unsigned serialization      (viem serializeTransaction)
// Inputs are JSON: integers travel as numbers, decimal strings or 0x strings. Each field is checked
// here first so that a bad one is answered E_BAD_PAYLOAD naming it; viem's own checks come after.
import {
  getAddress,
  hashMessage,
  hashTypedData,
  isAddress,
  keccak256,
  serializeTransaction,
  toHex,
  type AccessList,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { HwayError } from '../../errors.js';
import { bad, hexBytes, isObject, object, onlyKeys, quantity, smallInt, type Prepared, type RawSignature } from './common.js';

const bytesHex = (b: Uint8Array): Hex => toHex(b);

function yParity(sig: RawSignature): 0 | 1 {
  // 2 and 3 (r ≥ n) cannot be written in Ethereum's v; libsecp256k1 practically never produces them.
  if (sig.recovery !== 0 && sig.recovery !== 1) throw new HwayError('E_INTERNAL', `recovery id ${sig.recovery} cannot be expressed as an Ethereum v`);
  return sig.recovery;
}

/** 65-byte r ‖ s ‖ v with v = 27/28, as personal_sign and eth_signTypedData_v4 return it. */
export function rsv(sig: RawSignature): Hex {
  const out = new Uint8Array(65);
  out.set(sig.signature, 0);
  out[64] = 27 + yParity(sig);
  return bytesHex(out);
}

function address(v: unknown, field: string): Hex {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) bad(field, 'must be a 20-byte 0x address');
  // A mixed-case address must carry a correct EIP-55 checksum.
  if (v !== v.toLowerCase() && v.slice(2) !== v.slice(2).toUpperCase() && getAddress(v) !== v) bad(field, 'has a wrong EIP-55 checksum');
  return getAddress(v);
}

/** Runs a viem encoder; its complaint (already past our own field checks) becomes E_BAD_PAYLOAD. */
function viem<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const msg = (e as { shortMessage?: string; message?: string }).shortMessage ?? (e as Error).message ?? String(e);
    bad(field, `is refused by viem: ${msg}`);
  }
}

// ---- eth-personal ----

export function preparePersonal(input: unknown): Prepared {
  const o = object(input, 'input');
  onlyKeys(o, ['message', 'raw'], 'input');
  if ((o.message === undefined) === (o.raw === undefined)) bad('input', 'needs exactly one of message (text) or raw (0x hex)');
  let digest: Hex;
  if (o.message !== undefined) {
    if (typeof o.message !== 'string') bad('input.message', 'must be a string');
    if (Buffer.byteLength(o.message) > 1 << 20) bad('input.message', 'is larger than 1 MiB');
    digest = hashMessage(o.message);
  } else {
    digest = hashMessage({ raw: hexBytes(o.raw, 'input.raw') });
  }
  return { digest: Buffer.from(digest.slice(2), 'hex'), finish: (sig) => ({ signature: rsv(sig) }) };
}

// ---- eth-typed (EIP-712) ----

interface TypedField {
  name: string;
  type: string;
}
type Types = Record<string, TypedField[]>;

const ATOMIC_INT = /^(u?)int(\d*)$/;
const BYTES_N = /^bytes(\d+)$/;
const ARRAY = /^(.+)\[(\d*)\]$/;
const DOMAIN_FIELDS = ['name', 'version', 'chainId', 'verifyingContract', 'salt'] as const;

function types(v: unknown): Types {
  const o = object(v, 'input.types');
  const out: Types = {};
  for (const [name, fields] of Object.entries(o)) {
    if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) bad(`input.types.${name}`, 'is not a valid type name');
    if (!Array.isArray(fields)) bad(`input.types.${name}`, 'must be an array of {name, type}');
    out[name] = fields.map((f, i) => {
      const where = `input.types.${name}[${i}]`;
      if (!isObject(f) || typeof f.name !== 'string' || typeof f.type !== 'string') bad(where, 'must be {name: string, type: string}');
      return { name: f.name, type: f.type };
    });
  }
  return out;
}

/** Checks a value against its EIP-712 type and returns it in the form viem encodes (integers as bigint). */
function typedValue(t: Types, type: string, v: unknown, field: string): unknown {
  const arr = ARRAY.exec(type);
  if (arr) {
    if (!Array.isArray(v)) bad(field, `must be an array (${type})`);
    if (arr[2] !== '' && v.length !== Number(arr[2])) bad(field, `must have ${arr[2]} elements (${type})`);
    return v.map((x, i) => typedValue(t, arr[1]!, x, `${field}[${i}]`));
  }
  const fields = t[type];
  if (fields !== undefined) {
    const o = object(v, field);
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      if (o[f.name] === undefined) bad(`${field}.${f.name}`, `is missing (${f.type})`);
      out[f.name] = typedValue(t, f.type, o[f.name], `${field}.${f.name}`);
    }
    return out;
  }
  if (type === 'address') return address(v, field);
  if (type === 'bool') {
    if (typeof v !== 'boolean') bad(field, 'must be true or false (bool)');
    return v;
  }
  if (type === 'string') {
    if (typeof v !== 'string') bad(field, 'must be a string');
    return v;
  }
  if (type === 'bytes') return hexBytes(v, field);
  const bn = BYTES_N.exec(type);
  if (bn) {
    const n = Number(bn[1]);
    if (n < 1 || n > 32) bad(field, `has an invalid type ${type}`);
    return hexBytes(v, field, n);
  }
  const int = ATOMIC_INT.exec(type);
  if (int) {
    const bits = int[2] === '' ? 256 : Number(int[2]);
    if (bits < 8 || bits > 256 || bits % 8 !== 0) bad(field, `has an invalid type ${type}`);
    if (int[1] === 'u') return quantity(v, field, bits);
    // intN: a signed integer, as a number or a (possibly negative) decimal string.
    let n: bigint;
    if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^-?(0|[1-9][0-9]*)$|^0x[0-9a-fA-F]+$/.test(v)) n = BigInt(v);
    else bad(field, `must be an integer (${type})`);
    const lim = 1n << BigInt(bits - 1);
    if (n < -lim || n >= lim) bad(field, `is out of range for ${type}`);
    return n;
  }
  bad(field, `has the unknown type "${type}" (not in input.types and not an EIP-712 atomic type)`);
}

function domain(v: unknown): Record<string, unknown> {
  const o = object(v ?? {}, 'input.domain');
  onlyKeys(o, DOMAIN_FIELDS, 'input.domain');
  const out: Record<string, unknown> = {};
  if (o.name !== undefined) out.name = typedValue({}, 'string', o.name, 'input.domain.name');
  if (o.version !== undefined) out.version = typedValue({}, 'string', o.version, 'input.domain.version');
  if (o.chainId !== undefined) out.chainId = quantity(o.chainId, 'input.domain.chainId');
  if (o.verifyingContract !== undefined) out.verifyingContract = address(o.verifyingContract, 'input.domain.verifyingContract');
  if (o.salt !== undefined) out.salt = hexBytes(o.salt, 'input.domain.salt', 32);
  return out;
}

export function prepareTyped(input: unknown): Prepared {
  const o = object(input, 'input');
  onlyKeys(o, ['domain', 'types', 'primaryType', 'message'], 'input');
  const t = types(o.types);
  const dom = domain(o.domain);
  const { EIP712Domain: domainType, ...structs } = t;
  if (domainType !== undefined) {
    // eth_signTypedData_v4 documents list EIP712Domain; it must describe the domain given.
    for (const f of domainType) {
      if (!(DOMAIN_FIELDS as readonly string[]).includes(f.name)) bad('input.types.EIP712Domain', `has the unknown domain field "${f.name}"`);
      if (dom[f.name] === undefined) bad(`input.domain.${f.name}`, 'is missing (listed in input.types.EIP712Domain)');
    }
    for (const k of Object.keys(dom)) if (!domainType.some((f) => f.name === k)) bad(`input.domain.${k}`, 'is not listed in input.types.EIP712Domain');
  }
  if (typeof o.primaryType !== 'string' || o.primaryType.length === 0) bad('input.primaryType', 'must be the name of a type in input.types');
  const primaryType = o.primaryType;
  if (primaryType !== 'EIP712Domain' && structs[primaryType] === undefined) bad('input.primaryType', `names "${primaryType}", which input.types does not define`);
  const message = primaryType === 'EIP712Domain' ? {} : (typedValue(structs, primaryType, o.message, 'input.message') as Record<string, unknown>);
  const digest = viem('input', () =>
    hashTypedData({ domain: dom, types: t, primaryType, message } as unknown as Parameters<typeof hashTypedData>[0]),
  );
  return { digest: Buffer.from(digest.slice(2), 'hex'), finish: (sig) => ({ signature: rsv(sig) }) };
}

// ---- eth-tx ----

export type TxKind = 'legacy' | 'eip2930' | 'eip1559';

const TX_FIELDS = ['type', 'chainId', 'nonce', 'to', 'value', 'data', 'gas', 'gasLimit', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'accessList', 'from'] as const;

function txKind(o: Record<string, unknown>): TxKind {
  const t = o.type;
  if (t === undefined) return o.maxFeePerGas !== undefined || o.maxPriorityFeePerGas !== undefined ? 'eip1559' : o.accessList !== undefined ? 'eip2930' : 'legacy';
  if (t === 'legacy' || t === 0 || t === '0x0' || t === '0x00') return 'legacy';
  if (t === 'eip2930' || t === 1 || t === '0x1' || t === '0x01') return 'eip2930';
  if (t === 'eip1559' || t === 2 || t === '0x2' || t === '0x02') return 'eip1559';
  bad('input.type', `must be legacy, eip2930 or eip1559 (0, 1, 2), not ${JSON.stringify(t)}`);
}

function accessList(v: unknown): AccessList {
  if (!Array.isArray(v)) bad('input.accessList', 'must be an array of {address, storageKeys}');
  return v.map((e, i) => {
    const where = `input.accessList[${i}]`;
    const o = object(e, where);
    onlyKeys(o, ['address', 'storageKeys'], where);
    if (!Array.isArray(o.storageKeys)) bad(`${where}.storageKeys`, 'must be an array of 32-byte hex strings');
    return { address: address(o.address, `${where}.address`), storageKeys: o.storageKeys.map((k, j) => hexBytes(k, `${where}.storageKeys[${j}]`, 32)) };
  });
}

/** Parses a transaction document into viem's form, field by field. */
export function parseTransaction(input: unknown): { tx: TransactionSerializable; from?: string } {
  const o = object(input, 'input');
  onlyKeys(o, TX_FIELDS, 'input');
  const kind = txKind(o);
  if (o.chainId === undefined) bad('input.chainId', 'is required (a transaction without one could be replayed on every chain)');
  const chainId = smallInt(o.chainId, 'input.chainId');
  if (chainId === 0) bad('input.chainId', 'must be positive');
  if (o.nonce === undefined) bad('input.nonce', 'is required');
  const nonce = smallInt(o.nonce, 'input.nonce');
  if (o.gas !== undefined && o.gasLimit !== undefined) bad('input.gasLimit', 'and input.gas are the same field: give one');
  const gasRaw = o.gas ?? o.gasLimit;
  if (gasRaw === undefined) bad('input.gas', 'is required (or input.gasLimit)');
  const gas = quantity(gasRaw, o.gas !== undefined ? 'input.gas' : 'input.gasLimit', 64);
  const to = o.to === undefined || o.to === null ? undefined : address(o.to, 'input.to');
  const value = o.value === undefined ? 0n : quantity(o.value, 'input.value');
  const data = o.data === undefined ? undefined : hexBytes(o.data, 'input.data');
  if (to === undefined && (data === undefined || data === '0x')) bad('input.to', 'is required (a transaction without one creates a contract, and then input.data is its code)');
  const from = o.from === undefined || o.from === null ? undefined : address(o.from, 'input.from');
  const base = { chainId, nonce, gas, value, ...(to === undefined ? {} : { to }), ...(data === undefined ? {} : { data }) };
  let tx: TransactionSerializable;
  if (kind === 'eip1559') {
    if (o.gasPrice !== undefined) bad('input.gasPrice', 'is not a field of an EIP-1559 transaction (use maxFeePerGas and maxPriorityFeePerGas)');
    if (o.maxFeePerGas === undefined) bad('input.maxFeePerGas', 'is required for an EIP-1559 transaction');
    if (o.maxPriorityFeePerGas === undefined) bad('input.maxPriorityFeePerGas', 'is required for an EIP-1559 transaction');
    const maxFeePerGas = quantity(o.maxFeePerGas, 'input.maxFeePerGas');
    const maxPriorityFeePerGas = quantity(o.maxPriorityFeePerGas, 'input.maxPriorityFeePerGas');
    if (maxPriorityFeePerGas > maxFeePerGas) bad('input.maxPriorityFeePerGas', 'must not exceed input.maxFeePerGas');
    tx = { ...base, type: 'eip1559', maxFeePerGas, maxPriorityFeePerGas, ...(o.accessList === undefined ? {} : { accessList: accessList(o.accessList) }) };
  } else {
    for (const f of ['maxFeePerGas', 'maxPriorityFeePerGas'] as const) {
      if (o[f] !== undefined) bad(`input.${f}`, `is not a field of a ${kind} transaction`);
    }
    if (o.gasPrice === undefined) bad('input.gasPrice', `is required for a ${kind} transaction`);
    const gasPrice = quantity(o.gasPrice, 'input.gasPrice');
    if (kind === 'eip2930') {
      tx = { ...base, type: 'eip2930', gasPrice, accessList: o.accessList === undefined ? [] : accessList(o.accessList) };
    } else {
      if (o.accessList !== undefined) bad('input.accessList', 'is not a field of a legacy transaction (use type eip2930)');
      tx = { ...base, type: 'legacy', gasPrice };
    }
  }
  return from === undefined ? { tx } : { tx, from };
}

export function prepareTransaction(input: unknown): Prepared {
  const { tx, from } = parseTransaction(input);
  const unsigned = viem('input', () => serializeTransaction(tx));
  const digest = keccak256(unsigned);
  return {
    digest: Buffer.from(digest.slice(2), 'hex'),
    ...(from === undefined ? {} : { sender: { field: 'input.from', address: from } }),
    finish: (sig) => {
      const parity = yParity(sig);
      const r = bytesHex(sig.signature.subarray(0, 32));
      const s = bytesHex(sig.signature.subarray(32, 64));
      const serialized = serializeTransaction(tx, { r, s, yParity: parity, v: 27n + BigInt(parity) });
      return { serialized, hash: keccak256(serialized) };
    },
  };
}
