// The vault task types: each validates its payload, checks that the task is keyed by its vault id
// (so that it reached the partition owner, the only node allowed to activate that vault), and hands
// the operation to the vault's actor.
import { HwayError, codeOf } from '../../errors.js';
import type { AuditFields } from '../audit/entry.js';
import type { Perm } from '../gateway/tokens.js';
import type { Enclave } from '../../enclaves/enclave.js';
import type { Handler, Json, Task } from '../ingress/index.js';
import { partitionOf } from '../ingress/partition.js';
import { checkSender, prepare, type Prepared } from '../chains/schemes.js';
import { recoverKey } from '../gateway/signatures.js';
import { uncompressedPublicKey } from '../../enclaves/addresses.js';
import { parse, type OpenSecret, type VaultTaskType } from './payloads.js';
import type { VaultOp, VaultResult } from './vault-actor.js';
import type { VaultSupervisor } from './vault-supervisor.js';

/** Permission a task type needs when auth is on (read < write < sign < admin): the tokens' own. */
export type { Perm };

export const TASK_PERM: Record<VaultTaskType, Perm> = {
  'vault:info': 'read',
  'vault:verify': 'read',
  'vault:generate': 'write',
  'vault:refresh': 'write',
  'vault:import': 'write',
  'vault:sign': 'sign',
  'vault:sign-as': 'sign',
  // An export takes key material (encrypted) out of the system; deleting destroys it.
  'vault:export': 'admin',
  'vault:delete': 'admin',
};

/** Resolves the account a task acts for ('*' when auth is off); refuses it otherwise. */
export type Authorize = (task: Task, needed: Perm) => Promise<string>;

export interface VaultTaskDeps {
  supervisor: VaultSupervisor;
  enclave: Enclave;
  partitions: number;
  authorize: Authorize;
  /**
   * Appends an audit entry (auth on). Fail closed: when it rejects, the task fails with its error
   * and the operation's result is not released (a retry answers a change's recorded outcome).
   */
  audit?: (f: Omit<AuditFields, 'ts' | 'node'>) => Promise<void>;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** What an operation's audit entry names: its vault and, for signatures, the digest. */
function auditTarget(type: VaultTaskType, payload: unknown): { target: string; digest: string } {
  const p = (payload ?? {}) as { vaultId?: unknown };
  const target = typeof p.vaultId === 'string' ? p.vaultId : '';
  try {
    if (type === 'vault:sign') return { target, digest: hexOf(parse[type](payload).digest) };
    if (type === 'vault:verify') return { target, digest: hexOf(parse[type](payload).digest) };
    if (type === 'vault:sign-as') {
      const p = parse[type](payload);
      return { target, digest: hexOf(prepare(p.scheme, p.input).digest) };
    }
  } catch {
    /* a malformed payload: the entry records its error code */
  }
  return { target, digest: '' };
}

/**
 * Runs a handler and, when the task has a verified account and the node audits, appends its entry
 * before the outcome is released: the value or the error, or E_AUDIT_UNAVAILABLE instead of either.
 */
function audited(type: VaultTaskType, deps: VaultTaskDeps, run: (task: Task) => Promise<Json>): Handler {
  return async (task: Task): Promise<Json> => {
    const audit = deps.audit;
    if (audit === undefined || task.auth === undefined) return run(task);
    const auth = task.auth;
    const record = (outcome: string): Promise<void> =>
      audit({ account: auth.account, jti: auth.jti, op: type, ...auditTarget(type, task.payload), outcome, task: task.id });
    let value: Json;
    try {
      value = await run(task);
    } catch (err) {
      await record(codeOf(err));
      throw err;
    }
    await record('ok');
    return value;
  };
}

function opOf(type: Exclude<VaultTaskType, 'vault:verify' | 'vault:sign-as'>, payload: unknown, open: OpenSecret | undefined): { vaultId: string; op: VaultOp } {
  switch (type) {
    case 'vault:generate':
      return { vaultId: parse[type](payload).vaultId, op: { kind: 'generate' } };
    case 'vault:sign': {
      const p = parse[type](payload);
      return { vaultId: p.vaultId, op: { kind: 'sign', digest: p.digest } };
    }
    case 'vault:refresh':
      return { vaultId: parse[type](payload).vaultId, op: { kind: 'refresh' } };
    case 'vault:export': {
      const p = parse[type](payload, open);
      return { vaultId: p.vaultId, op: { kind: 'export', password: p.password } };
    }
    case 'vault:import': {
      const p = parse[type](payload, open);
      return { vaultId: p.vaultId, op: { kind: 'import', cid: p.cid, password: p.password } };
    }
    case 'vault:info':
      return { vaultId: parse[type](payload).vaultId, op: { kind: 'info' } };
    case 'vault:delete':
      return { vaultId: parse[type](payload).vaultId, op: { kind: 'delete' } };
  }
}

export function vaultHandlers(deps: VaultTaskDeps): Record<VaultTaskType, Handler> {
  const actorTask = (type: Exclude<VaultTaskType, 'vault:verify' | 'vault:sign-as'>): Handler =>
    audited(type, deps, async (task: Task): Promise<VaultResult> => {
      const { vaultId, op } = opOf(type, task.payload, task.auth?.openSecret);
      if (partitionOf(vaultId, deps.partitions) !== task.partition) {
        throw new HwayError('E_BAD_PAYLOAD', `vault tasks must be enqueued with key = vaultId (${vaultId})`, { permanent: true });
      }
      const account = await deps.authorize(task, TASK_PERM[type]);
      return deps.supervisor.run(vaultId, { op, account, partition: task.partition, fence: task.epoch, taskId: task.id });
    });
  return {
    'vault:generate': actorTask('vault:generate'),
    'vault:sign': actorTask('vault:sign'),
    'vault:refresh': actorTask('vault:refresh'),
    'vault:export': actorTask('vault:export'),
    'vault:import': actorTask('vault:import'),
    'vault:info': actorTask('vault:info'),
    'vault:delete': actorTask('vault:delete'),
    // A chain-native signature (actors/chains): the input is checked and hashed here, the vault's
    // key is looked up (a named sender must be the vault's own address), then the vault signs the
    // digest and the scheme assembles its format. Audited with the digest, like vault:sign.
    'vault:sign-as': audited('vault:sign-as', deps, async (task: Task): Promise<Json> => {
      const p = parse['vault:sign-as'](task.payload);
      if (partitionOf(p.vaultId, deps.partitions) !== task.partition) {
        throw new HwayError('E_BAD_PAYLOAD', `vault tasks must be enqueued with key = vaultId (${p.vaultId})`, { permanent: true });
      }
      const prepared: Prepared = prepare(p.scheme, p.input);
      const account = await deps.authorize(task, TASK_PERM['vault:sign-as']);
      const msg = { account, partition: task.partition, fence: task.epoch, taskId: task.id };
      const info = await deps.supervisor.run(p.vaultId, { ...msg, op: { kind: 'info' } });
      const publicKey = new Uint8Array(Buffer.from(String(info.publicKey), 'hex'));
      checkSender(prepared, publicKey, p.vaultId);
      const s = await deps.supervisor.run(p.vaultId, { ...msg, op: { kind: 'sign', digest: prepared.digest } });
      const signature = new Uint8Array(Buffer.from(String(s.signature), 'hex'));
      const recovery = Number(s.recovery);
      // What goes out must be the vault's: the signature recovers to its key, or nothing is released.
      const key = recoverKey(prepared.digest, String(s.signature), recovery);
      if (key === undefined || Buffer.compare(Buffer.from(key), Buffer.from(uncompressedPublicKey(publicKey))) !== 0) {
        throw new HwayError('E_INTERNAL', `vault ${p.vaultId} returned a signature that does not recover to its key`);
      }
      return prepared.finish({ signature, recovery });
    }),
    // Verification needs no vault and no secret: the enclave's shared verifier answers it directly.
    'vault:verify': audited('vault:verify', deps, async (task: Task): Promise<Json> => {
      const p = parse['vault:verify'](task.payload);
      await deps.authorize(task, TASK_PERM['vault:verify']);
      return { valid: await deps.enclave.verify(p.publicKey, p.digest, p.signature) };
    }),
  };
}
