// Public API of the signer gateway.
export { startGateway, routingAddress, nobleVerifier, type Gateway, type GatewayOptions, type GatewayStats, type VaultSigners, type Verifier } from './gateway.js';
export { WalletConnector, localKeyWallet, digestFor, type WalletConnectorOptions, type WalletSignature, type SignRequest } from './connector.js';
export { ProofWorkerConnector, type ProofWorkerConnectorOptions, type ProofRequest } from './proof-connector.js';
export type { ConnectorOptions, ConnectorState, Welcome } from './connection.js';
export {
  GatewayClient,
  withGateway,
  walletHas,
  walletSign,
  listWallets,
  listConnectedMiners,
  listMinerConnection,
  computeProof,
  type GatewayClientOptions,
  type SignResult,
  type WalletInfo,
  type MinerConnection,
} from './producer.js';
export { TokenService, requirePerm, isPerm, parseTtl, PERMS, type Perm, type TokenClaims, type IssuedToken, type TokenServiceOptions } from './tokens.js';
export { RateLimiter, RateLimitedError, DEFAULT_LIMITS, type Limit, type RateLimits } from './ratelimit.js';
export type { SignMeta, JsonValue } from './frames.js';
export { challengeDigest } from './frame-auth.js';
export { GwKeys } from './keys.js';
