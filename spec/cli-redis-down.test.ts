// Redis not reachable: every command says so in one line on stderr — where it looked, why, and how
// to start one — with E_REDIS_UNAVAILABLE and exit 3, within a few seconds, and without side effects
// (`hway start` creates no master key file when it cannot serve).
import { afterAll, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, hway, type CliError, type CliResult } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hway-cli-down-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('every command: one line, E_REDIS_UNAVAILABLE, exit 3, quickly', async () => {
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
  // Two at a time: the bound is on the command's own wait, not on 14 processes sharing two cores.
  const runs: Array<[CliResult<CliError>, CliResult<CliError>]> = [];
  for (const [args, env] of commands) runs.push(await Promise.all([hway(args, { env: env ?? {} }), hway([...args, '--json'], { env: env ?? {} })]));
  const line = new RegExp(`^hway: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); start one with: redis-server --daemonize yes \\[E_REDIS_UNAVAILABLE\\]$`);
  commands.forEach(([args], i) => {
    const [human, json] = runs[i]!;
    expect({ args, code: human.code }).toEqual({ args, code: 3 });
    expect(human.stdout).toBe('');
    expect(human.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(human.stderr.trimEnd()).toMatch(line);
    expect(human.ms).toBeLessThan(5000);
    expect({ args, code: json.code }).toEqual({ args, code: 3 });
    expect(json.json.error.code).toBe('E_REDIS_UNAVAILABLE');
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
  });
  expect(existsSync(join(dir, 'node', 'master.key'))).toBe(false);
  expect(existsSync(join(dir, 'cluster', 'master.key'))).toBe(false);
});
