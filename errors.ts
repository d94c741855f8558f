// One error class per failure kind, each with a stable `code` that producers, the CLI and tests match on.
// Messages are for people; they never contain secrets (keys, passwords, tokens, plaintext exports).

export type ErrorCode =
  | 'E_BAD_INPUT'
  | 'E_BAD_PAYLOAD'
  | 'E_CORRUPT'
  | 'E_WRONG_PASSWORD'
  | 'E_WEAK_PASSWORD'
  | 'E_KEY_RETIRED'
  | 'E_WRONG_VAULT'
  | 'E_INVALID_KEY'
  | 'E_ENCLAVE'
  | 'E_PLUGIN_INTEGRITY'
  | 'E_TIMEOUT'
  | 'E_CLOSED'
  | 'E_BUSY'
  | 'E_UNKNOWN_TYPE'
  | 'E_UNKNOWN_VAULT'
  | 'E_VAULT_EXISTS'
  | 'E_NOT_FOUND'
  | 'E_REDIS_UNAVAILABLE'
  | 'E_REDIS_MISCONFIGURED'
  | 'E_STALE_EPOCH'
  | 'E_CONFLICT'
  | 'E_TASK_FAILED'
  | 'E_UNAUTHORIZED'
  | 'E_AUTH_REQUIRED'
  | 'E_FORBIDDEN'
  | 'E_FORGED_OUTCOME'
  | 'E_AUDIT_UNAVAILABLE'
  | 'E_AUDIT_BROKEN'
  | 'E_RATE_LIMITED'
  | 'E_NO_WALLET'
  | 'E_WALLET_BUSY'
  | 'E_INTERNAL';

export class HwayError extends Error {
  readonly code: ErrorCode;
  /** A permanent error is not retried by the ingress: the same input would fail the same way. */
  readonly permanent: boolean;

  constructor(code: ErrorCode, message: string, options: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HwayError';
    this.code = code;
    this.permanent = options.permanent ?? false;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isHwayError(e: unknown): e is HwayError {
  return e instanceof HwayError;
}

/** The stable code of any thrown value: an HwayError's own, E_INTERNAL for anything else. */
export function codeOf(e: unknown): ErrorCode {
  return isHwayError(e) ? e.code : 'E_INTERNAL';
}
