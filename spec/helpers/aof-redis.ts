// A redis-server of a test's own, with every write in its AOF (appendfsync always): for tests that
// kill and restart Redis, or read what it wrote to disk.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { pollUntil } from './deadlines.js';

export class AofRedis {
  private proc: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts the server and resolves once it answers PING. */
  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    const probe = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: null });
    try {
      await pollUntil(async () => {
        try {
          if (probe.status === 'wait') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        }
      }, 'redis-server to answer');
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILLs the server (a crash: only what the AOF holds survives); resolves once it has exited. */
  kill(): Promise<void> {
    const s = this.proc;
    this.proc = undefined;
    if (!s || s.exitCode !== null || s.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('exit', () => resolve());
      s.kill('SIGKILL');
    });
  }
}
