// The REST routes' producer: one HwayClient per endpoint, opened on the first request and closed with
// the endpoint. Every call carries the caller's own credential (CallOptions.credential), so each task
// is MAC'd under the caller's request key, an export or import password is sealed under it, the
// node's outcome must be authenticated under it, and the node applies that token's account, permission
// and rate limits — exactly as for a producer that holds the credential itself.
//
// Why not one client per credential: a client holds two Redis connections, so a cache of them would
// let many tokens open many connections; the credential is per call in the ingress client already
// (the node's vault signers act for producers the same way), so one client serves every caller.
import { HwayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { RedisSource } from '../../../storage/redis.js';
import { HwayClient, type VaultClient } from '../../client.js';

export interface RestProducerOptions {
  redis: RedisSource;
  prefix: string;
  partitions: number;
  logger: Logger;
}

/** Default wait for a task's result when the request does not say (`?timeoutMs=`). */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

export class RestProducer {
  private client: HwayClient | undefined;
  private closed = false;

  constructor(private readonly opts: RestProducerOptions) {}

  /** The vault operations; throws E_CLOSED after close(). */
  vault(): VaultClient {
    if (this.closed) throw new HwayError('E_CLOSED', 'the HTTP endpoint is closing');
    this.client ??= new HwayClient({ ...this.opts, callTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
    return this.client.vault;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.close();
    this.client = undefined;
  }
}
