// JSON Schemas of the REST routes (routes.ts). Fastify validates requests with them and serializes
// responses by them; @fastify/swagger turns the same objects into /openapi.json, so the document
// cannot drift from what the routes accept. Only shapes are checked here: the node checks every
// payload again (actors/vault/payloads.ts), as for any producer, and its refusal keeps its code.
import { SCHEMES } from '../../chains/names.js';
import { PRIORITIES } from '../../ingress/keys.js';
import { MIN_EXPORT_PASSWORD, VAULT_ID_RE } from '../../vault/payloads.js';

/** The `$id` of the shared error body, registered with `app.addSchema` before the routes. */
export const ERROR_BODY_ID = 'HwayErrorBody';

export const errorBodySchema = {
  $id: ERROR_BODY_ID,
  title: ERROR_BODY_ID,
  description: 'Every refusal: a stable code (E_…) and a message for people',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', pattern: '^E_[A-Z_]+$', description: 'stable error code, e.g. E_UNKNOWN_VAULT' },
        message: { type: 'string' },
      },
    },
  },
} as const;

const errorRef = (description: string): { description: string; $ref: string } => ({ description, $ref: `${ERROR_BODY_ID}#` });

/** The error responses every route can give; `extra` adds route-specific ones (404, 409). */
export function errorResponses(extra: Record<number, string> = {}): Record<number, { description: string; $ref: string }> {
  const all: Record<number, string> = {
    400: 'bad input: the request does not match its schema (E_BAD_INPUT), or the node refused the payload (E_BAD_PAYLOAD, E_WEAK_PASSWORD, E_WRONG_PASSWORD, …)',
    401: 'no credential, a bare JWT, a wrong request key, an expired or revoked token, or auth is off on this node (E_UNAUTHORIZED)',
    403: "the token's permission is too low, or the vault belongs to another account (E_FORBIDDEN)",
    429: 'rate limit of the token or account exceeded (E_RATE_LIMITED)',
    500: 'internal error (E_INTERNAL, E_ENCLAVE, …)',
    502: "the node's answer is not authenticated for this credential (E_FORGED_OUTCOME)",
    503: 'Redis or the node is unavailable, or the vault is busy (E_REDIS_UNAVAILABLE, E_CLOSED, E_BUSY)',
    504: 'no result within timeoutMs (E_TIMEOUT); the task itself may still complete',
    ...extra,
  };
  return Object.fromEntries(Object.entries(all).map(([k, d]) => [k, errorRef(d)]));
}

const HEX = '^(0x)?([0-9a-fA-F]{2})*$';
const hex = (description: string, maxLength = 2 * (1 << 20) + 2): Record<string, unknown> => ({ type: 'string', pattern: HEX, maxLength, description });
const hash = { type: 'string', enum: ['none', 'sha256', 'keccak256'], default: 'none', description: 'none: data is a 32-byte digest; sha256/keccak256: data is the message, hashed by the node' };

export const vaultParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: VAULT_ID_RE.source, description: 'vault id: 1–128 characters of A–Z a–z 0–9 . _ -' } },
} as const;

/** How a producer waits and queues: the same knobs as HwayClient's CallOptions. */
export const callQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    timeoutMs: { type: 'integer', minimum: 1, maximum: 3_600_000, description: 'how long to wait for the result (default 30000); the task itself keeps going' },
    priority: { type: 'string', enum: [...PRIORITIES], description: 'queue of the task (default "default")' },
  },
} as const;

export const signBody = {
  type: 'object',
  required: ['data'],
  additionalProperties: false,
  properties: { data: hex('hex bytes: a 32-byte digest (hash none) or the message'), hash },
} as const;

export const signAsBody = {
  type: 'object',
  required: ['scheme', 'input'],
  additionalProperties: false,
  properties: {
    scheme: { type: 'string', enum: [...SCHEMES] },
    input: {
      type: 'object',
      additionalProperties: true,
      description:
        'eth-personal: {"message": text} or {"raw": "0x…"}; eth-typed: an eth_signTypedData_v4 document; eth-tx: a transaction (chainId, nonce, to, value, gas, fees…); fil-message: a Lotus JSON message (From must be the vault)',
    },
  },
} as const;

export const verifyBody = {
  type: 'object',
  required: ['publicKey', 'data', 'signature'],
  additionalProperties: false,
  properties: {
    publicKey: hex('33- or 65-byte secp256k1 public key, hex', 132),
    data: hex('hex bytes: a 32-byte digest (hash none) or the message'),
    signature: hex('64-byte r ‖ s, hex', 130),
    hash,
  },
} as const;

const password = { type: 'string', minLength: 1, maxLength: 1024, description: 'sent only in the body; sealed for the node under your request key before it reaches Redis' };

export const exportBody = {
  type: 'object',
  required: ['password'],
  additionalProperties: false,
  properties: { password: { ...password, description: `${password.description}; at least ${MIN_EXPORT_PASSWORD} characters (E_WEAK_PASSWORD)` } },
} as const;

export const importBody = {
  type: 'object',
  required: ['cid', 'password'],
  additionalProperties: false,
  properties: { cid: { type: 'string', pattern: '^[A-Za-z0-9]{10,200}$', description: 'CID of the export (from /export)' }, password },
} as const;

// ---- responses ----

const addresses = {
  type: 'object',
  required: ['eth', 'fil'],
  properties: { eth: { type: 'string', description: 'EIP-55 0x address' }, fil: { type: 'string', description: 'f1…/t1… address' } },
} as const;

const vaultViewProps = {
  vaultId: { type: 'string' },
  publicKey: { type: 'string', description: 'secp256k1 public key, hex' },
  addresses,
} as const;

export const vaultView = { type: 'object', required: ['vaultId', 'publicKey', 'addresses'], properties: vaultViewProps } as const;

export const importedView = {
  type: 'object',
  required: ['vaultId', 'publicKey', 'addresses'],
  properties: { ...vaultViewProps, sourceVaultId: { type: 'string', description: 'the vault that made the export (v2 envelopes)' } },
} as const;

export const vaultInfo = {
  type: 'object',
  required: ['vaultId', 'publicKey', 'addresses', 'account', 'epoch', 'version', 'createdAt', 'updatedAt'],
  properties: {
    ...vaultViewProps,
    account: { type: 'string' },
    epoch: { type: 'integer' },
    version: { type: 'integer' },
    createdAt: { type: 'integer', description: 'ms since the epoch' },
    updatedAt: { type: 'integer', description: 'ms since the epoch' },
  },
} as const;

export const signature = {
  type: 'object',
  required: ['signature', 'recovery'],
  properties: { signature: { type: 'string', description: '64-byte r ‖ s, hex, low-S' }, recovery: { type: 'integer', minimum: 0, maximum: 3 } },
} as const;

/** sign-as answers one of three shapes, by scheme (actors/chains/inputs.ts). */
export const signAsResult = {
  anyOf: [
    {
      title: 'EthSignature',
      description: 'eth-personal, eth-typed: 65-byte r ‖ s ‖ v, 0x hex (v = 27/28)',
      type: 'object',
      required: ['signature'],
      properties: { signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' } },
    },
    {
      title: 'EthTransaction',
      description: 'eth-tx: the signed serialization (eth_sendRawTransaction) and its hash',
      type: 'object',
      required: ['serialized', 'hash'],
      properties: { serialized: { type: 'string' }, hash: { type: 'string' } },
    },
    {
      title: 'FilecoinSigned',
      description: 'fil-message: the parts of a Lotus SignedMessage',
      type: 'object',
      required: ['message', 'signature', 'cid', 'signedCid', 'signedMessage'],
      properties: {
        message: { type: 'object', additionalProperties: true, description: 'the message as signed, canonical Lotus JSON' },
        signature: { type: 'object', required: ['Type', 'Data'], properties: { Type: { type: 'integer', enum: [1] }, Data: { type: 'string', description: 'base64 of r ‖ s ‖ v' } } },
        cid: { type: 'string' },
        signedCid: { type: 'string' },
        signedMessage: { type: 'string', description: 'dag-cbor of the signed message, hex' },
      },
    },
  ],
} as const;

export const verifyResult = { type: 'object', required: ['valid'], properties: { valid: { type: 'boolean' } } } as const;
export const refreshResult = {
  type: 'object',
  required: ['vaultId', 'epoch', 'publicKey'],
  properties: { vaultId: { type: 'string' }, epoch: { type: 'integer' }, publicKey: { type: 'string' } },
} as const;
export const exportResult = { type: 'object', required: ['vaultId', 'cid'], properties: { vaultId: { type: 'string' }, cid: { type: 'string' } } } as const;
export const deleteResult = {
  type: 'object',
  required: ['vaultId', 'deleted'],
  properties: { vaultId: { type: 'string' }, deleted: { type: 'boolean', enum: [true] } },
} as const;
