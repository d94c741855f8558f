// Where a node's token secret (the HS256 key of account tokens) comes from: HWAY_TOKEN_SECRET, or a
// secret file (created on first start by `hway start`, mode 0600, 32 random bytes as hex). Auth is on
// by default, so a node always has one unless it is told to run without auth (`insecure`).
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { HwayError } from '../errors.js';

export interface TokenSecretSource {
  secret: string;
  /** Where it came from (for a log line: never the secret itself). */
  origin: 'env' | 'file' | 'created';
  path?: string;
}

/** The secret from env HWAY_TOKEN_SECRET, else `file`; `create` makes the file when there is none. */
export function loadTokenSecret(opts: { env?: NodeJS.ProcessEnv; file: string; create: boolean }): TokenSecretSource | undefined {
  const fromEnv = opts.env?.HWAY_TOKEN_SECRET;
  if (fromEnv !== undefined && fromEnv !== '') return { secret: fromEnv, origin: 'env' };
  if (existsSync(opts.file)) return { secret: readTokenSecretFile(opts.file), origin: 'file', path: opts.file };
  if (!opts.create) return undefined;
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('hex');
  try {
    // 'wx': never overwrite a file another process created meanwhile; that one wins.
    writeFileSync(opts.file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { secret: readTokenSecretFile(opts.file), origin: 'file', path: opts.file };
    throw e;
  }
  chmodSync(opts.file, 0o600);
  return { secret, origin: 'created', path: opts.file };
}

/** Reads a secret file; refuses one that others may read, or one too short to be a key. */
export function readTokenSecretFile(file: string): string {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new HwayError('E_BAD_INPUT', `token secret file ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`, { permanent: true });
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (Buffer.byteLength(secret) < 32) throw new HwayError('E_BAD_INPUT', `token secret file ${file} holds fewer than 32 bytes`, { permanent: true });
  return secret;
}
