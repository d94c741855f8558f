// Highway's public surface. Everything else in the repository is internal.
import { createNode as createNodeWithInternals, type HwayNode, type NodeOptions } from './actors/node.js';
export type { HwayNode, NodeOptions, NodeStats, TaskContext, TaskDefinition } from './actors/node.js';
export type { RedisEffect } from './storage/effects.js';

/** A node (not started yet): `start()` it, register task types, `stop()` it to drain and release its leases. */
export const createNode: (options?: NodeOptions) => HwayNode = createNodeWithInternals;
export { HwayClient, VaultClient, type HwayClientOptions, type SignatureResult, type VaultInfo, type VaultView } from './actors/client.js';
export type { CallOptions, EnqueueOptions, Json, Priority, Task, TaskOutcome, TaskState } from './actors/ingress/task.js';
export type { HashName } from './actors/vault/payloads.js';
export type { Perm } from './actors/vault/tasks.js';
export { HwayError, isHwayError, type ErrorCode } from './errors.js';
export {
  WalletConnector,
  ProofWorkerConnector,
  GatewayClient,
  localKeyWallet,
  type WalletConnectorOptions,
  type ProofWorkerConnectorOptions,
  type SignRequest,
  type ProofRequest,
  type SignMeta,
} from './actors/gateway/index.js';
export type { SignResult, WalletInfo, MinerConnection } from './actors/gateway/producer.js';
// Issuing and revoking account tokens (what `hway token` does), for services that run their own nodes.
export { TokenService, type TokenServiceOptions, type TokenClaims, type IssuedToken } from './actors/gateway/tokens.js';
