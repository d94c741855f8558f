// `hway/client`: what runs outside a node — producers (HwayClient) and wallet or proof-worker
// processes (WalletConnector, ProofWorkerConnector). It loads none of Helia, Extism or nact (a test
// walks its import graph), so a producer pays only for ioredis and the signature libraries.
export { HwayClient, VaultClient, type HwayClientOptions, type SignatureResult, type VaultInfo, type VaultView } from './actors/client.js';
export type { CallOptions, EnqueueOptions, Json, Priority, Task, TaskOutcome, TaskState } from './actors/ingress/task.js';
export type { HashName } from './actors/vault/payloads.js';
export { HwayError, isHwayError, type ErrorCode } from './errors.js';
export { WalletConnector, localKeyWallet, type WalletConnectorOptions, type WalletSignature, type SignRequest } from './actors/gateway/connector.js';
export { ProofWorkerConnector, type ProofWorkerConnectorOptions, type ProofRequest } from './actors/gateway/proof-connector.js';
export type { ConnectorOptions, ConnectorState, Welcome } from './actors/gateway/connection.js';
export type { SignMeta, JsonValue } from './actors/gateway/frames.js';
export type { SignResult, WalletInfo, MinerConnection } from './actors/gateway/producer.js';
export type { Scheme } from './actors/chains/names.js';
export type {
  EthSignatureResult,
  EthTransactionResult,
  FilecoinMessageInput,
  FilecoinSignedResult,
  PersonalMessageInput,
  Quantity,
  TransactionInput,
  TypedDataInput,
} from './actors/chains/inputs.js';
