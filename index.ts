// Highway's public surface. Everything else in the repository is internal.
export { createNode, type HwayNode, type NodeOptions, type NodeStats, type TaskDefinition } from './actors/node.js';
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
