// The vault task types: each validates its payload, checks that the task is keyed by its vault id
// (so that it reached the partition owner, the only node allowed to activate that vault), and hands
// the operation to the vault's actor.
import { HwayError } from '../../errors.js';
import type { Perm } from '../gateway/tokens.js';
import type { Enclave } from '../../enclaves/enclave.js';
import type { Handler, Json, Task } from '../ingress/index.js';
import { partitionOf } from '../ingress/partition.js';
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
}

function opOf(type: Exclude<VaultTaskType, 'vault:verify'>, payload: unknown, open: OpenSecret | undefined): { vaultId: string; op: VaultOp } {
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
  const actorTask =
    (type: Exclude<VaultTaskType, 'vault:verify'>): Handler =>
    async (task: Task): Promise<VaultResult> => {
      const { vaultId, op } = opOf(type, task.payload, task.auth?.openSecret);
      if (partitionOf(vaultId, deps.partitions) !== task.partition) {
        throw new HwayError('E_BAD_PAYLOAD', `vault tasks must be enqueued with key = vaultId (${vaultId})`, { permanent: true });
      }
      const account = await deps.authorize(task, TASK_PERM[type]);
      return deps.supervisor.run(vaultId, { op, account, partition: task.partition, fence: task.epoch, taskId: task.id });
    };
  return {
    'vault:generate': actorTask('vault:generate'),
    'vault:sign': actorTask('vault:sign'),
    'vault:refresh': actorTask('vault:refresh'),
    'vault:export': actorTask('vault:export'),
    'vault:import': actorTask('vault:import'),
    'vault:info': actorTask('vault:info'),
    'vault:delete': actorTask('vault:delete'),
    // Verification needs no vault and no secret: the enclave's shared verifier answers it directly.
    'vault:verify': async (task: Task): Promise<Json> => {
      const p = parse['vault:verify'](task.payload);
      await deps.authorize(task, TASK_PERM['vault:verify']);
      return { valid: await deps.enclave.verify(p.publicKey, p.digest, p.signature) };
    },
  };
}
