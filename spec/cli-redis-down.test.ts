// Redis not reachable: every command says so in one line on stderr — where it looked, why, and how
// to start one — with E_REDIS_UNAVAILABLE and exit 3, at once (one connection attempt, no retries),
// and without side effects (`hway start` creates no master key file when it cannot serve).
import { afterAll, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, hway, type CliError, type CliResult } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hway-cli-down-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A port where something accepts TCP connections and drops each at once, counting them. */
async function droppingServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const srv = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return { url: `redis://127.0.0.1:${port}`, connections: () => n, close: () => new Promise((r) => srv.close(() => r())) };
}

test('every command: one line, E_REDIS_UNAVAILABLE, exit 3, at once', async () => {
  const port = await closedPort();
  const url = `redis://127.0.0.1:${port}`;
  // The demo starts a private redis-server when one is on PATH: give it a PATH with node only.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const commands: Array<[string[], Record<string, string>?]> = [
    [['vault', 'generate', 'v1', '--redis', url]],
    [['vault', 'sign', 'v1', 'aa'.repeat(32)], { HWAY_REDIS: url }], // from the environment too
    [['status', '--redis', url]],
    [['dlq', 'list', '--redis', url]],
    [['start', '--redis', url, '--data-dir', join(dir, 'node')]],
    [['cluster', '--nodes', '2', '--redis', url, '--data-dir', join(dir, 'cluster')]],
    [['demo', '--redis', url], { PATH: bin }],
  ];
  // "At once" is checked by what the command does, not by the clock (a busy machine may take
  // seconds just to start node): each command is also run against a server that accepts and drops
  // every connection, and must have made exactly one attempt — no retry loop, however short its
  // waits — and still fail with E_REDIS_UNAVAILABLE. A command that hung instead would hit hway()'s
  // hang-only deadline. A few at a time, to be gentle with a shared machine.
  const runs: Array<[CliResult<CliError>, CliResult<CliError>, CliResult<CliError>, number]> = [];
  for (const [args, env] of commands) {
    const dropping = await droppingServer();
    try {
      const swap = (a: string[]): string[] => a.map((x) => (x === url ? dropping.url : x));
      const droppingEnv = Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, v === url ? dropping.url : v]));
      const [human, json, dropped] = await Promise.all([
        hway(args, { env: env ?? {} }),
        hway([...args, '--json'], { env: env ?? {} }),
        hway([...swap(args), '--json'], { env: droppingEnv }),
      ]);
      runs.push([human, json, dropped, dropping.connections()]);
    } finally {
      await dropping.close();
    }
  }
  const line = new RegExp(`^hway: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); start one with: redis-server --daemonize yes \\[E_REDIS_UNAVAILABLE\\]$`);
  commands.forEach(([args], i) => {
    const [human, json, dropped, attempts] = runs[i]!;
    expect({ args, code: human.code }).toEqual({ args, code: 3 });
    expect(human.stdout).toBe('');
    expect(human.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(human.stderr.trimEnd()).toMatch(line);
    expect({ args, code: json.code }).toEqual({ args, code: 3 });
    expect(json.json.error.code).toBe('E_REDIS_UNAVAILABLE');
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    expect({ args, code: dropped.code, error: dropped.json.error.code, attempts }).toEqual({ args, code: 3, error: 'E_REDIS_UNAVAILABLE', attempts: 1 });
  });
  expect(existsSync(join(dir, 'node', 'master.key'))).toBe(false);
  expect(existsSync(join(dir, 'cluster', 'master.key'))).toBe(false);
});
