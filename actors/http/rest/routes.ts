// The vault operations as plain JSON routes, one row per operation: method, path (under /v1), the task
// type (whose permission the bearer needs, actors/vault/tasks.ts TASK_PERM), schemas, and the
// VaultClient call. plugin.ts turns each row into a fastify route.
import type { Scheme } from '../../chains/names.js';
import type { VaultClient } from '../../client.js';
import type { CallOptions } from '../../ingress/task.js';
import type { HashName, VaultTaskType } from '../../vault/payloads.js';
import {
  callQuery,
  deleteResult,
  errorResponses,
  exportBody,
  exportResult,
  importBody,
  importedView,
  refreshResult,
  signAsBody,
  signAsResult,
  signature,
  signBody,
  vaultInfo,
  vaultParams,
  vaultView,
  verifyBody,
  verifyResult,
} from './schemas.js';

export interface RouteInput {
  /** The vault id of `/vaults/:id` routes (absent on /verify). */
  id: string;
  /** The validated JSON body (routes without a body schema get undefined). */
  body: unknown;
}

export interface RestRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** Relative to /v1. */
  url: string;
  task: VaultTaskType;
  summary: string;
  description?: string;
  /** Status of a success. */
  ok: 200 | 201;
  body?: object;
  result: object;
  /** Refusals beyond the common ones (errorResponses). */
  errors?: Record<number, string>;
  call(v: VaultClient, input: RouteInput, opts: CallOptions): Promise<unknown>;
}

const UNKNOWN = { 404: 'no vault with this id (E_UNKNOWN_VAULT)' };

interface SignBody { data: string; hash?: HashName }
interface SignAsBody { scheme: Scheme; input: unknown }
interface VerifyBody { publicKey: string; data: string; signature: string; hash?: HashName }
interface ExportBody { password: string }
interface ImportBody { cid: string; password: string }

export const ROUTES: readonly RestRoute[] = [
  {
    method: 'POST',
    url: '/vaults/:id/generate',
    task: 'vault:generate',
    summary: 'Create a vault with a new secp256k1 key (generated in the enclave)',
    ok: 201,
    result: vaultView,
    errors: { 409: 'a vault with this id exists (E_VAULT_EXISTS)' },
    call: (v, { id }, o) => v.generate(id, o),
  },
  {
    method: 'GET',
    url: '/vaults/:id',
    task: 'vault:info',
    summary: "The vault's record: public key, addresses, account, epoch, version",
    ok: 200,
    result: vaultInfo,
    errors: UNKNOWN,
    call: (v, { id }, o) => v.info(id, o),
  },
  {
    method: 'DELETE',
    url: '/vaults/:id',
    task: 'vault:delete',
    summary: 'Delete the vault (its key is gone unless exported)',
    ok: 200,
    result: deleteResult,
    errors: UNKNOWN,
    call: (v, { id }, o) => v.delete(id, o),
  },
  {
    method: 'POST',
    url: '/vaults/:id/sign',
    task: 'vault:sign',
    summary: 'Sign a 32-byte digest, or a message hashed by the node (sha256, keccak256)',
    ok: 200,
    body: signBody,
    result: signature,
    errors: UNKNOWN,
    call: (v, { id, body }, o) => {
      const b = body as SignBody;
      return v.sign(id, b.data, { ...o, ...(b.hash === undefined ? {} : { hash: b.hash }) });
    },
  },
  {
    method: 'POST',
    url: '/vaults/:id/sign-as',
    task: 'vault:sign-as',
    summary: 'Chain-native signing: eth-personal, eth-typed, eth-tx, fil-message',
    description: 'The node checks and hashes the input in the format of the scheme; the vault signs the digest.',
    ok: 200,
    body: signAsBody,
    result: signAsResult,
    errors: UNKNOWN,
    call: (v, { id, body }, o) => {
      const b = body as SignAsBody;
      return v.signAs(id, b.scheme, b.input, o);
    },
  },
  {
    method: 'POST',
    url: '/vaults/:id/refresh',
    task: 'vault:refresh',
    summary: 'Re-seal the vault under the current master key',
    ok: 200,
    result: refreshResult,
    errors: UNKNOWN,
    call: (v, { id }, o) => v.refresh(id, o),
  },
  {
    method: 'POST',
    url: '/vaults/:id/export',
    task: 'vault:export',
    summary: 'Password-encrypted export (Argon2id) to IPFS; answers its CID',
    ok: 200,
    body: exportBody,
    result: exportResult,
    errors: UNKNOWN,
    call: (v, { id, body }, o) => v.export(id, (body as ExportBody).password, o),
  },
  {
    method: 'POST',
    url: '/vaults/:id/import',
    task: 'vault:import',
    summary: 'Restore an export (by CID) as this vault',
    ok: 201,
    body: importBody,
    result: importedView,
    errors: { 404: 'the CID is not found (E_NOT_FOUND)', 409: 'a vault with this id exists (E_VAULT_EXISTS)' },
    call: (v, { id, body }, o) => {
      const b = body as ImportBody;
      return v.import(b.cid, id, b.password, o);
    },
  },
  {
    method: 'POST',
    url: '/verify',
    task: 'vault:verify',
    summary: 'Verify a signature against a public key (no vault involved)',
    ok: 200,
    body: verifyBody,
    result: verifyResult,
    call: (v, { body }, o) => {
      const b = body as VerifyBody;
      return v.verify(b.publicKey, b.data, b.signature, { ...o, ...(b.hash === undefined ? {} : { hash: b.hash }) });
    },
  },
];

/** The fastify schema of a row: params, query, body, the success and every refusal. */
export function schemaOf(r: RestRoute): Record<string, unknown> {
  return {
    operationId: r.task.replace('vault:', '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    summary: r.summary,
    ...(r.description === undefined ? {} : { description: r.description }),
    tags: ['vaults'],
    ...(r.url.includes(':id') ? { params: vaultParams } : {}),
    querystring: callQuery,
    ...(r.body === undefined ? {} : { body: r.body }),
    response: { [r.ok]: { description: 'success', ...r.result }, ...errorResponses(r.errors) },
  };
}
