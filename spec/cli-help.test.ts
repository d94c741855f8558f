// `--help` everywhere: the command list, and every command's help naming its flags (exit 0); an
// unknown command or flag is a usage error (exit 2, E_BAD_INPUT) before anything touches Redis.
import { expect, test } from '@jest/globals';
import { hway } from './helpers/cli.js';

const FLAGS: Record<string, string[]> = {
  demo: ['--redis', '--verbose', '--json'],
  start: ['--data-dir', '--concurrency', '--partitions', '--node-id', '--master-key-file', '--ipfs-listen', '--ipfs-peer', '--redis', '--prefix'],
  cluster: ['--nodes', '--data-dir', '--redis', '--prefix', '--partitions'],
  vault: ['generate', 'sign', 'verify', 'refresh', 'export', 'import', 'info', 'delete', '--hash', '--password-file', '--generate-password', '--timeout', '--token', '--redis', '--prefix', '--partitions', '--json'],
  status: ['--redis', '--prefix', '--partitions', '--json'],
  dlq: ['list', 'inspect', 'requeue', 'delete', '--limit', '--redis', '--prefix', '--json'],
};
/** Commands of the gateway's CLI, checked when the build has them. */
const OPTIONAL: Record<string, string[]> = {
  wallet: ['has', 'sign', 'list', 'run', '--type', '--key-file', '--filnet', '--token', '--redis', '--json'],
  proof: ['list', 'connection', 'compute', '--sectors', '--rand', '--token', '--redis', '--json'],
  token: ['issue', 'revoke', 'list', '--account', '--perm', '--ttl', '--json'],
};

test('hway --help lists every command; each command --help names its flags', async () => {
  const top = await hway(['--help']);
  expect(top.code).toBe(0);
  for (const c of Object.keys(FLAGS)) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  // Every listed command, including ones this file does not know, answers --help.
  const listed = [...top.stdout.matchAll(/^  ([a-z][a-z0-9-]*)  /gm)].map((m) => m[1]!);
  const expected: Record<string, string[]> = { ...FLAGS, ...Object.fromEntries(Object.entries(OPTIONAL).filter(([c]) => listed.includes(c))) };
  const names = [...new Set([...Object.keys(expected), ...listed])];
  const each = await Promise.all(names.map((c) => hway([c, '--help'])));
  names.forEach((c, i) => {
    const r = each[i]!;
    expect({ c, code: r.code, stderr: r.stderr }).toEqual({ c, code: 0, stderr: '' });
    expect(r.stdout).toContain(`hway ${c}`);
    expect(r.stdout).toContain('--help');
    for (const f of expected[c] ?? []) expect({ c, has: f, ok: r.stdout.includes(f) }).toEqual({ c, has: f, ok: true });
  });
});

test('unknown command, unknown flag, missing argument: usage error, exit 2, E_BAD_INPUT', async () => {
  const [cmd, cmdJson, flag, missing, sub, help] = await Promise.all([
    hway(['frobnicate']),
    hway(['frobnicate', '--json']),
    hway(['vault', 'generate', 'v1', '--frob', '--json']),
    hway(['vault', 'sign', 'v1', '--json']),
    hway(['vault', 'explode', 'v1', '--json']),
    hway(['help', 'status']),
  ]);
  expect(cmd.code).toBe(2);
  expect(cmd.stderr).toContain('usage: hway <command>');
  expect(cmd.stderr).toMatch(/^hway: unknown command "frobnicate" \[E_BAD_INPUT\]$/m);
  expect(cmdJson.code).toBe(2);
  expect(cmdJson.json).toEqual({ error: { code: 'E_BAD_INPUT', message: 'unknown command "frobnicate"' } });
  for (const r of [flag, missing, sub]) {
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_BAD_INPUT');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }
  expect(flag.json.error.message).toContain('--frob');
  expect(missing.json.error.message).toContain('<hex>');
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('hway status');
});
