// A benchmark's helper process (a node, a worker): a TypeScript file run with tsx, ready once it prints
// "ready" on stdout, stopped with SIGTERM (bench/ingress-worker.ts, bench/sign-node.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ReadyChild {
  /** SIGTERM, then wait until it has exited. */
  stop: () => Promise<void>;
}

/** `stderr: 'ignore'` drops its warnings (e.g. an insecure node's) from the benchmark's output. */
export async function startReadyChild(script: URL, args: string[], what: string, stderr: 'inherit' | 'ignore' = 'inherit'): Promise<ReadyChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', fileURLToPath(script), ...args], {
    stdio: ['ignore', 'pipe', stderr],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
  return {
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
