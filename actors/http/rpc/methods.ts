// The Gateway.* methods of /rpc/v0, in the shapes of sophon-gateway's v0 API (Venus types, go-jsonrpc
// JSON). Sources matched: filecoin-project/venus venus-shared/api/gateway/v0/method.md,
// proof_event.go and wallet_event.go (methods, positional params, results), venus-shared/types/msg_meta.go
// (MsgMeta), venus-shared/types/gateway/common.go + proof_event.go (MinerState, ConnectState),
// go-state-types crypto.Signature; ipfs-force-community/sophon-gateway api/v0api/v2_wrapper.go.
//
//   Gateway.WalletHas([account,] addr)                        → bool
//   Gateway.WalletSign([account,] addr, toSign, meta)         → {"Type":1,"Data":"<base64 r‖s‖v>"}
//   Gateway.ListConnectedMiners()                             → ["f01000", …]
//   Gateway.ListMinerConnection(miner)                        → MinerState
//   Gateway.ComputeProof(miner, sectorInfos, rand)            → the proof worker's answer, as is
//
// Addresses are strings; []byte is standard base64 (Go's encoding/json); MsgMeta is
// {"Type":"message","Extra":"<base64>"} (Go matches the field names case-insensitively; so do we).
// The leading `account` is the newer v0's (its WalletHas/WalletSign take one): here the account is
// the credential's, so when given it must be that one (E_FORBIDDEN otherwise).
// Permissions are the Highway gateway's own per operation (read: has, lists; sign: sign, proof), not
// sophon's (admin for all five): the call is made as the caller, so the gateway checks them again.
import { isHwayError, HwayError } from '../../../errors.js';
import { parseAddress } from '../../../enclaves/addresses.js';
import { base64Bytes, isVenusMsgType, venusMetaType, venusSignBytes, VENUS_MSG_TYPES } from '../../chains/venus-meta.js';
import { MAX_SIGN_BYTES, MINER_RE, type JsonValue } from '../../gateway/frames.js';
import type { Perm, TokenClaims } from '../../gateway/perms.js';
import type { GatewayClient } from '../../gateway/producer.js';
import { INVALID_PARAMS, RpcError } from './protocol.js';

export interface Caller {
  claims: TokenClaims;
  client: GatewayClient;
}

export interface Method {
  perm: Perm;
  /** Positional parameter counts accepted. */
  arity: readonly number[];
  run(params: unknown[], caller: Caller): Promise<unknown>;
}

const badParam = (i: number, name: string, what: string): RpcError => new RpcError(INVALID_PARAMS, `param ${i} (${name}) ${what}`);

function address(v: unknown, i: number, name = 'address'): string {
  if (typeof v !== 'string' || v.length > 128) throw badParam(i, name, 'must be an address string');
  try {
    parseAddress(v);
  } catch {
    throw badParam(i, name, `is not an address: ${JSON.stringify(v)}`);
  }
  return v;
}

function miner(v: unknown, i: number): string {
  if (typeof v !== 'string' || !MINER_RE.test(v)) throw badParam(i, 'miner', 'must be a miner id (f0…/t0…)');
  return v;
}

function bytes(v: unknown, i: number, name: string): Uint8Array {
  try {
    return base64Bytes(v, `param ${i} (${name})`);
  } catch (e) {
    throw new RpcError(INVALID_PARAMS, isHwayError(e) ? e.message : String(e));
  }
}

/** The credential's account must be the one named (the newer v0 signatures name one). */
function sameAccount(v: unknown, caller: Caller): void {
  if (typeof v !== 'string') throw badParam(0, 'account', 'must be a string');
  if (v !== caller.claims.account) throw new HwayError('E_FORBIDDEN', `this credential is of account "${caller.claims.account}", not "${v}"`, { permanent: true });
}

/** A field of a Go struct decoded from JSON: exact name first, then any case (encoding/json). */
function goField(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}

interface MsgMeta {
  type: string;
  extra: Uint8Array;
}

function msgMeta(v: unknown, i: number): MsgMeta {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badParam(i, 'meta', 'must be a MsgMeta object {"Type","Extra"}');
  const o = v as Record<string, unknown>;
  const type = goField(o, 'Type') ?? '';
  if (typeof type !== 'string') throw badParam(i, 'meta', 'Type must be a string');
  return { type, extra: bytes(goField(o, 'Extra'), i, 'meta.Extra') };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** Go's zero time.Time, for what the gateway does not record (a connection's creation). */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
/** crypto.SigTypeSecp256k1 (go-state-types/crypto). */
const SIG_SECP256K1 = 1;

async function walletSign(p: unknown[], caller: Caller): Promise<unknown> {
  if (p.length === 4) sameAccount(p[0], caller);
  const o = p.length - 3;
  const addr = address(p[o], o);
  const toSign = bytes(p[o + 1], o + 1, 'toSign');
  if (toSign.length > MAX_SIGN_BYTES) throw badParam(o + 1, 'toSign', `is larger than ${MAX_SIGN_BYTES} bytes`);
  const meta = msgMeta(p[o + 2], o + 2);
  if (!isVenusMsgType(meta.type)) {
    throw new HwayError('E_BAD_PAYLOAD', `unsupported MsgMeta type ${JSON.stringify(meta.type)} (known: ${VENUS_MSG_TYPES.join(', ')})`, { permanent: true });
  }
  // Refused here before anything is sent when Venus would refuse it; the gateway and the wallet check again.
  venusSignBytes({ toSign, type: meta.type, extra: meta.extra, signer: addr });
  const r = await caller.client.walletSign(addr, toSign, meta.extra.length > 0 ? { type: venusMetaType(meta.type), extra: b64(meta.extra) } : { type: venusMetaType(meta.type) });
  if (!/^[0-9a-f]{128}$/.test(r.signature) || (r.recovery !== 0 && r.recovery !== 1)) {
    throw new HwayError('E_INTERNAL', 'the signer answered a signature that a Filecoin signature cannot carry');
  }
  return { Type: SIG_SECP256K1, Data: b64(Uint8Array.from([...Buffer.from(r.signature, 'hex'), r.recovery])) };
}

export const METHODS: Readonly<Record<string, Method>> = {
  'Gateway.WalletHas': {
    perm: 'read',
    arity: [1, 2],
    async run(p, caller) {
      if (p.length === 2) sameAccount(p[0], caller);
      return caller.client.walletHas(address(p[p.length - 1], p.length - 1));
    },
  },
  'Gateway.WalletSign': { perm: 'sign', arity: [3, 4], run: walletSign },
  'Gateway.ListConnectedMiners': {
    perm: 'read',
    arity: [0],
    run: (_p, caller) => caller.client.listConnectedMiners(),
  },
  'Gateway.ListMinerConnection': {
    perm: 'read',
    arity: [1],
    async run(p, caller) {
      const m = await caller.client.listMinerConnection(miner(p[0], 0));
      // gtypes.MinerState. The gateway knows no client IP (connections come through Redis) nor creation time.
      return {
        Connections: m.connections.map((c) => ({ Addrs: [m.miner], ChannelId: c.id, Ip: '', RequestCount: c.inFlight, CreateTime: GO_ZERO_TIME })),
        ConnectionCount: m.connections.length,
      };
    },
  },
  'Gateway.ComputeProof': {
    perm: 'sign',
    arity: [3],
    async run(p, caller) {
      const m = miner(p[0], 0);
      const sectors = p[1] ?? [];
      if (!Array.isArray(sectors)) throw badParam(1, 'sectorInfos', 'must be an array of SectorInfo');
      const rand = bytes(p[2], 2, 'rand');
      return caller.client.computeProof(m, sectors as JsonValue, rand);
    },
  },
};
