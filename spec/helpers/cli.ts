// Runs the `hway` CLI the way a user does: the executable as a child process (its shebang, a clean
// NODE_OPTIONS), collecting exit code, stdout, stderr and the parsed JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import winston from 'winston';
import type { Logger } from '../../log.js';
import { HANG_MS } from './deadlines.js';

// `npm test` builds the CLI into .test-build/ first and sets HWAY_TEST_CLI=built: the tests then spawn
// the compiled CLI, as the package ships it, which starts in half the CPU time of bin/hway's tsx shim
// (about 0.7 s less per run, over some hundreds of runs on a 2-core machine). Run alone (jest
// spec/cli-…), a test spawns bin/hway from the sources, so nothing stale is ever tested.
export const HWAY = fileURLToPath(new URL(process.env.HWAY_TEST_CLI === 'built' ? '../../.test-build/bin/hway.js' : '../../bin/hway', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult<T> {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON, as the shape the test expects (undefined when not JSON). */
  json: T;
  /** Wall time, for messages only: never assert on it (it depends on how busy the machine is). */
  ms: number;
}

/**
 * For `hway vault …` and `hway wallet …` runs that are expected to get their answer: the CLI's own wait
 * for the result (--timeout, 30 s by default) made hang-only.
 */
export const WAIT = ['--timeout', String(HANG_MS)];

export interface CliOptions {
  /** Written to stdin, then closed; without it stdin is /dev/null. */
  input?: string;
  env?: Record<string, string>;
  /** Hang-only deadline (default HANG_MS): the process is killed and the test fails only if it never finishes. */
  timeoutMs?: number;
  cwd?: string;
}

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // jest's NODE_OPTIONS (--experimental-vm-modules) must not leak into the CLI; HWAY_* from the
  // developer's shell must not either.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', HWAY_LOG_LEVEL: 'warn' };
  for (const k of Object.keys(env)) if (k.startsWith('HWAY_') && k !== 'HWAY_LOG_LEVEL') delete env[k];
  return { ...env, ...extra };
}

/** The JSON error object every command prints with --json. */
export interface CliError {
  error: { code: string; message: string };
}

export function hway<T = CliError>(args: string[], opts: CliOptions = {}): Promise<CliResult<T>> {
  const t0 = Date.now();
  const proc = spawn(HWAY, args, { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (opts.input !== undefined) proc.stdin!.end(opts.input);
  const ms = opts.timeoutMs ?? HANG_MS;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hway ${args.join(' ')} did not finish in ${ms} ms (hang-only deadline)\n${stderr}`));
    }, ms);
    proc.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: unknown;
      try {
        json = last === '' ? undefined : JSON.parse(last);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json: json as T, ms: Date.now() - t0 });
    });
  });
}

/** A long-running `hway …` (start, cluster): resolves once `ready(stdoutSoFar)` is true. */
export interface LongRunning {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function hwayLongRunning(args: string[], ready: (stdout: string) => boolean, opts: CliOptions = {}): Promise<LongRunning> {
  const proc = spawn(HWAY, args, { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const ms = opts.timeoutMs ?? HANG_MS;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hway ${args.join(' ')} not ready in ${ms} ms (hang-only deadline)\n${err.slice(-3000)}`));
    }, ms);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hway ${args.join(' ')} exited with ${code} before ready\n${err.slice(-3000)}`));
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready(out)) {
        clearTimeout(timer);
        resolve({ proc, stdout: () => out, stderr: () => err, exited });
      }
    });
  });
}

/**
 * Sends `signal` and waits for the exit code. A graceful stop is ordinary work: SIGKILL (and so a
 * non-zero code) comes only after the hang-only `ms`.
 */
export async function stopLongRunning(p: LongRunning | undefined, signal: NodeJS.Signals = 'SIGTERM', ms = HANG_MS): Promise<number | null> {
  if (p === undefined) return null;
  if (p.proc.exitCode !== null) return p.proc.exitCode;
  p.proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    p.proc.kill('SIGKILL');
    return p.exited;
  }
  return code;
}

/** A TCP port nothing listens on (bound once, then released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A logger for in-test nodes whose expected warnings ("task archived") would only clutter output. */
export function quietLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
}
