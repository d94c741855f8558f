// `hway start --http HOST:PORT`: the node serves /metrics, /healthz and /readyz there (port 0: the
// system picks one, and the ready line says which), counts what the CLI made it do, and closes the
// endpoint when it stops. `--help` shows the flag; a bad address (flag or HWAY_HTTP) is a usage error
// before anything starts.
import { afterAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { hway, hwayLongRunning, stopLongRunning, WAIT, type LongRunning } from './helpers/cli.js';
import { pollUntil } from './helpers/deadlines.js';
import { REDIS } from './helpers/node.js';

const prefix = `hwt-cli-http-${randomBytes(3).toString('hex')}`;
const P = 4;
const dir = mkdtempSync(join(tmpdir(), 'hway-cli-http-'));
const O = ['--prefix', prefix, '--partitions', String(P)];
let proc: LongRunning | undefined;
const redis = new Redis(REDIS);

afterAll(async () => {
  await stopLongRunning(proc, 'SIGKILL');
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('hway start --help shows --http', async () => {
  const r = await hway(['start', '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^ {2}--http HOST:PORT .*\(env HWAY_HTTP\)$/m);
  expect(r.stdout).toContain('--http 0.0.0.0:PORT shows them to anyone');
  expect(r.stdout).toMatch(/^ {2}--ready-ping-ms MS .*\(env HWAY_READY_PING_MS\b.*$/m);
});

test('a bad address is a usage error, from the flag or from HWAY_HTTP', async () => {
  const flag = await hway(['start', ...O, '--data-dir', join(dir, 'bad'), '--http', 'localhost:99999', '--json']);
  expect(flag.code).toBe(2);
  expect(flag.json.error.code).toBe('E_BAD_INPUT');
  expect(flag.json.error.message).toContain('--http');
  const env = await hway(['start', ...O, '--data-dir', join(dir, 'bad'), '--json'], { env: { HWAY_HTTP: 'not an address' } });
  expect(env.code).toBe(2);
  expect(env.json.error.message).toContain('--http');
  const ping = await hway(['start', ...O, '--data-dir', join(dir, 'bad'), '--http', '127.0.0.1:0', '--ready-ping-ms', '0', '--json']);
  expect(ping.code).toBe(2);
  expect(ping.json.error.code).toBe('E_BAD_INPUT');
  expect(ping.json.error.message).toContain('--ready-ping-ms');
  const alone = await hway(['start', ...O, '--data-dir', join(dir, 'bad'), '--ready-ping-ms', '900', '--json']);
  expect(alone.code).toBe(2);
  expect(alone.json.error.message).toContain('--ready-ping-ms needs --http');
});

test('start --http 127.0.0.1:0: health, readiness and metrics of the running node; closed on SIGTERM', async () => {
  proc = await hwayLongRunning(
    ['start', ...O, '--data-dir', join(dir, 'data'), '--node-id', 'cli-http-1', '--insecure-no-auth', '--http', '127.0.0.1:0', '--json'],
    (out) => out.includes('"ready":true'),
  );
  const info = JSON.parse(proc.stdout().trim().split('\n')[0]!) as { http: string };
  expect(info.http).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
  // Written to stderr right after the ready line on stdout: the two pipes arrive in either order.
  await pollUntil(() => proc!.stderr().includes(`metrics and health on ${info.http}`), 'the start line on stderr');
  const url = info.http;

  const health = await fetch(`${url}/healthz`);
  expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
  await pollUntil(async () => (await fetch(`${url}/readyz`)).status === 200, 'the node to be ready');

  const gen = await hway(['vault', 'generate', 'cli-http-vault', ...O, ...WAIT, '--json']);
  expect(gen.code).toBe(0);
  const res = await fetch(`${url}/metrics`);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const body = await res.text();
  expect(body).toMatch(/^hway_node_info\{node="cli-http-1"\} 1$/m);
  expect(body).toMatch(new RegExp(`^hway_partitions_owned ${P}$`, 'm'));
  expect(body).toMatch(/^hway_tasks_total\{type="vault:generate",outcome="ok"\} 1$/m);
  expect(body).toMatch(/^process_cpu_seconds_total \S+$/m);
  expect(body).not.toContain('cli-http-vault');

  expect(await stopLongRunning(proc, 'SIGTERM')).toBe(0);
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();
});
