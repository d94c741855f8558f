// Child processes for tests: spawned with tsx, read until their first JSON line, killed in afterAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HANG_MS } from './deadlines.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child<T> {
  proc: ChildProcess;
  ready: T;
  output: () => string;
}

/**
 * Runs `script` (relative to the repository root) and resolves with its first JSON line. Start-up is
 * ordinary work: `timeoutMs` is hang-only (the process is killed if it is never ready).
 */
export function startProcess<T>(script: string, env: Record<string, string>, timeoutMs = HANG_MS): Promise<Child<T>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', script], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', HWAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} not ready in ${timeoutMs} ms (hang-only deadline): ${err.slice(-2000)}`));
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${err.slice(-2000)}`));
    });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({ proc, ready: JSON.parse(out.slice(0, nl)) as T, output: () => err });
      }
    });
  });
}

// Clean-up only (afterAll): nothing asserts on how the process ended, so the SIGKILL fallback after
// 10 s cannot change a test's outcome.
export async function stopProcess(child: Child<unknown> | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  // A process that ended by a signal has no exit code but a signal code: it is gone too (waiting for
  // its 'exit', which already fired, cost every test that stops a killed process 10 s).
  const gone = (): boolean => child!.proc.exitCode !== null || child!.proc.signalCode !== null;
  if (child === undefined || gone()) return;
  const exited = new Promise((r) => child.proc.once('exit', r));
  child.proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
  clearTimeout(timer);
  if (!gone()) child.proc.kill('SIGKILL');
}
