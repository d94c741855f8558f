// Failures answered with stable codes: each CLI run exits non-zero, prints one readable line on
// stderr ("hway: … [E_CODE]") and, with --json, {"error":{"code","message"}} on stdout.
// Node-side payload checks → E_BAD_PAYLOAD (exit 1); command-line mistakes → E_BAD_INPUT (exit 2).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { hway, quietLogger, WAIT } from './helpers/cli.js';
import { testCluster } from './helpers/node.js';

const cluster = testCluster('cli-err');
const O = ['--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json'];
let node: HwayNode;
let cid: string;

beforeAll(async () => {
  // A long lease: the node's membership must not lapse while 15 CLI processes load the machine, or the
  // CLI adds its (correct) "no node is running" advisory line to the one line this test counts.
  node = cluster.node({ logger: quietLogger(), leaseMs: 15_000 });
  await node.start();
  const c = cluster.client();
  await c.vault.generate('e1');
  cid = (await c.vault.export('e1', 'right password')).cid;
});
afterAll(() => cluster.cleanup());

test('stable codes for bad payloads, unknown and existing vaults, wrong passwords, bad input', async () => {
  const cases: Array<[string[], string, number, { input?: string }?]> = [
    [['vault', 'sign', 'e1', 'not-hex'], 'E_BAD_PAYLOAD', 1],
    [['vault', 'sign', 'e1', 'abcd'], 'E_BAD_PAYLOAD', 1], // hash none needs 32 bytes
    [['vault', 'generate', 'bad id!'], 'E_BAD_PAYLOAD', 1],
    [['vault', 'verify', '02abcd', 'aa'.repeat(32), 'bb'.repeat(64)], 'E_BAD_PAYLOAD', 1],
    [['vault', 'sign', 'ghost', 'aa'.repeat(32)], 'E_UNKNOWN_VAULT', 1],
    [['vault', 'refresh', 'ghost'], 'E_UNKNOWN_VAULT', 1],
    [['vault', 'generate', 'e1'], 'E_VAULT_EXISTS', 1],
    [['vault', 'import', cid, 'e2'], 'E_WRONG_PASSWORD', 1, { input: 'wrong password' }],
    [['vault', 'sign', 'e1', 'aa'.repeat(32), '--hash', 'md5'], 'E_BAD_INPUT', 2],
    [['vault', 'sign', 'e1'], 'E_BAD_INPUT', 2],
    [['vault', 'info', 'e1', 'extra'], 'E_BAD_INPUT', 2],
    [['vault', 'export', 'e1', '--hash', 'sha256'], 'E_BAD_INPUT', 2], // a flag of another operation
    [['vault', 'info', 'e1', '--timeout', 'soon'], 'E_BAD_INPUT', 2],
    [['vault', 'info', 'e1', '--redis', 'http://localhost'], 'E_BAD_INPUT', 2],
    [['dlq', 'requeue', 'no-such-task'], 'E_NOT_FOUND', 1],
  ];
  // WAIT (hang-only --timeout) for the vault commands, except the case about --timeout itself.
  const wait = (args: string[]): string[] => (args[0] === 'vault' && !args.includes('--timeout') ? WAIT : []);
  const runs = await Promise.all(cases.map(([args, , , o]) => hway([...args, ...O, ...wait(args)], o ?? {})));
  cases.forEach(([args, code, exit], i) => {
    const r = runs[i]!;
    expect({ args, exit: r.code, code: r.json?.error?.code }).toEqual({ args, exit, code });
    expect(typeof r.json.error.message).toBe('string');
    // One readable line on stderr naming the code (plus, for client commands, nothing else).
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^hway: .+ \\[${code}\\]$`));
  });

  // Without --json: the same line on stderr, nothing on stdout.
  const human = await hway(['vault', 'sign', 'ghost', 'aa'.repeat(32), '--prefix', cluster.prefix, '--partitions', String(cluster.partitions), ...WAIT]);
  expect(human.code).toBe(1);
  expect(human.stdout).toBe('');
  expect(human.stderr).toMatch(/^hway: .*ghost.* \[E_UNKNOWN_VAULT\]\n$/);
});
