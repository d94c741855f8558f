// Runs bench/sign-producer.ts in a child process and drives it phase by phase; reads this process's
// CPU around each phase, so the consuming side's cost per sign (node or BullMQ worker, without the
// producer's) is measured over exactly the signs the producer counted.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Phase, ProducerSetup, Run } from './sign-producer.js';

export type { ProducerSetup, Run };

export interface PhaseResult extends Run {
  /** CPU time of this (the consuming) process per sign over the phase, µs. */
  consumerCpuUs: number;
}

export class ProducerProcess {
  private constructor(private readonly child: ChildProcess) {}

  /** Starts the producer; resolves once it has set up (Highway: its vaults generated). */
  static async start(setup: ProducerSetup): Promise<ProducerProcess> {
    const child = fork(fileURLToPath(new URL('./sign-producer.ts', import.meta.url)), [JSON.stringify(setup)], {
      execArgv: ['--import', 'tsx', '--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const p = new ProducerProcess(child);
    await p.next();
    return p;
  }

  async run(phase: Exclude<Phase, { phase: 'exit' }>): Promise<PhaseResult> {
    const cpu0 = process.cpuUsage();
    this.child.send(phase);
    const run = (await this.next()) as Run;
    const cpu = process.cpuUsage(cpu0);
    return { ...run, consumerCpuUs: (cpu.user + cpu.system) / Math.max(1, run.n) };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ phase: 'exit' } satisfies Phase);
    await exited;
  }

  private next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`sign producer exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (m) => {
        this.child.off('exit', onExit);
        resolve(m);
      });
    });
  }
}
