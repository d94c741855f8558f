// GET /metrics of a node started with `http: { port: 0 }`, scraped with plain fetch: the Prometheus text
// format as prom-client writes it (its content type, HELP and TYPE for every family, `_total` counters,
// `_seconds` histograms with a +Inf bucket), and the counters, gauges and histograms moving by exactly
// what the test did: vault tasks that succeed and one that fails (a dead letter), tasks waiting in a
// queue, a task type nobody registered (one bounded label value), a wallet signing through the gateway.
// No vault id, address or key ever appears in the output.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Registry } from 'prom-client';
import type { HwayClient } from '../actors/client.js';
import { GatewayClient, WalletConnector, localKeyWallet } from '../actors/gateway/index.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { REDIS, testCluster } from './helpers/node.js';
import { quietLogger } from './fixtures/ingress-helpers.js';

const P = 4;
const cluster = testCluster('http-metrics', P);
let node: HwayNode;
let client: HwayClient;
let url: string;
let openGate: () => void = () => undefined;
const gate = new Promise<void>((r) => (openGate = r));

beforeAll(async () => {
  node = cluster.node({ http: { port: 0 }, logger: quietLogger() });
  // Holds its tasks until the test opens the gate: they stay in the queue meanwhile.
  node.registerTask('test:gate', { validate: (p) => p, handle: async () => (await gate, { done: true }) });
  await node.start();
  url = (await node.stats()).http!.url;
  client = cluster.client();
  await pollUntil(async () => (await fetch(`${url}/readyz`)).status === 200, 'the node to be ready');
});

afterAll(async () => {
  openGate();
  await cluster.cleanup();
});

// ---- a small reader of the Prometheus text format (version 0.0.4) ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Exposition {
  body: string;
  contentType: string | null;
  samples: Sample[];
  types: Map<string, string>;
  helps: Set<string>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);

async function scrape(): Promise<Exposition> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const body = await res.text();
  const out: Exposition = { body, contentType: res.headers.get('content-type'), samples: [], types: new Map(), helps: new Set() };
  for (const line of body.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') out.helps.add(meta[2]!);
      else out.types.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.samples.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) });
  }
  return out;
}

/** The value of the sample with exactly these labels (0 when absent: a label set not seen yet). */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels);
  const s = e.samples.find((x) => x.name === name && Object.keys(x.labels).length === want.length && want.every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => value(await scrape(), name, labels);

describe('GET /metrics', () => {
  test('vault tasks: counts by type and outcome, both latency histograms, dead letters, vaults, enclave, partitions, Redis', async () => {
    const before = await scrape();
    const digest = randomBytes(32);
    await client.vault.generate('metrics-vault-7f3a');
    await client.vault.sign('metrics-vault-7f3a', digest);
    await client.vault.sign('metrics-vault-7f3a', digest);
    await expect(client.vault.sign('metrics-missing-9c1e', digest)).rejects.toMatchObject({ code: 'E_UNKNOWN_VAULT' });
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - value(before, name, labels);

    expect(value(after, 'hway_tasks_total', { type: 'vault:generate', outcome: 'ok' })).toBe(1);
    expect(value(after, 'hway_tasks_total', { type: 'vault:sign', outcome: 'ok' })).toBe(2);
    expect(value(after, 'hway_tasks_total', { type: 'vault:sign', outcome: 'E_UNKNOWN_VAULT' })).toBe(1);
    expect(after.body).toMatch(/^hway_tasks_total\{type="vault:sign",outcome="ok"\} 2$/m);
    // Every attempt was a first attempt: both histograms saw each one.
    for (const h of ['hway_task_queue_wait_seconds', 'hway_task_run_seconds']) {
      expect(delta(`${h}_count`, { type: 'vault:sign' })).toBe(3);
      expect(delta(`${h}_count`, { type: 'vault:generate' })).toBe(1);
      expect(value(after, `${h}_bucket`, { type: 'vault:sign', le: '+Inf' })).toBe(value(after, `${h}_count`, { type: 'vault:sign' }));
      expect(value(after, `${h}_sum`, { type: 'vault:sign' })).toBeGreaterThanOrEqual(0);
    }
    expect(delta('hway_tasks_dead_lettered_total')).toBe(1);
    expect(delta('hway_dead_letters')).toBe(1);
    expect(delta('hway_task_retries_total')).toBe(0);
    expect(delta('hway_enclave_calls_total')).toBeGreaterThanOrEqual(3);
    expect(value(after, 'hway_enclave_timeouts_total')).toBe(0);
    expect(value(after, 'hway_enclave_worker_restarts_total')).toBe(0);
    expect(value(after, 'hway_vaults_active')).toBeGreaterThanOrEqual(1);
    expect(delta('hway_vault_activations_total')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'hway_partitions_owned')).toBe(P);
    expect(value(after, 'hway_partitions_target')).toBe(P);
    expect(value(after, 'hway_cluster_nodes')).toBe(1);
    expect(value(after, 'hway_redis_up')).toBe(1);
    expect(delta('hway_redis_ping_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'hway_node_ready')).toBe(1);
    expect(value(after, 'hway_node_info', { node: node.nodeId })).toBe(1);
    // Labels are types and codes: no vault id reaches the output.
    expect(after.body).not.toContain('metrics-vault-7f3a');
    expect(after.body).not.toContain('metrics-missing-9c1e');
    expect(after.body).not.toContain(cluster.masterKey.slice(2));
  });

  test('queue depth per priority and tasks in flight while tasks wait; an unregistered type is one label value', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) await client.enqueue('test:gate', { i }, { key: 'gate-key', priority: 'low' });
    // One runs (held at the gate), two wait behind it on their key: all three are in the low stream.
    await pollUntil(async () => {
      const e = await scrape();
      return value(e, 'hway_tasks_in_flight') === 1 && value(e, 'hway_queue_depth', { priority: 'low' }) === 3;
    }, 'one gated task running and three in the low queue');
    const held = await scrape();
    expect(value(held, 'hway_queue_depth', { priority: 'critical' })).toBe(0);
    expect(value(held, 'hway_queue_depth', { priority: 'default' })).toBe(0);
    openGate();
    await pollUntil(async () => (await metric('hway_tasks_total', { type: 'test:gate', outcome: 'ok' })) === 3, 'the three gated tasks to finish');
    await pollUntil(async () => (await metric('hway_queue_depth', { priority: 'low' })) === 0, 'the low queue to empty');
    expect(await metric('hway_tasks_in_flight')).toBe(0);

    await expect(client.call('no:such-type-5d2b', {})).rejects.toMatchObject({ code: 'E_UNKNOWN_TYPE' });
    const after = await scrape();
    expect(value(after, 'hway_tasks_total', { type: 'unregistered', outcome: 'E_UNKNOWN_TYPE' })).toBe(value(before, 'hway_tasks_total', { type: 'unregistered', outcome: 'E_UNKNOWN_TYPE' }) + 1);
    expect(after.body).not.toContain('no:such-type-5d2b');
  });

  test('gateway: connections and routes of this node, requests, signatures, handshakes', async () => {
    const before = await scrape();
    const sk = secp256k1.utils.randomSecretKey();
    const local = localKeyWallet([sk]);
    const wallet = new WalletConnector({ redis: REDIS, prefix: cluster.prefix, ...local });
    const producer = new GatewayClient({ redis: REDIS, prefix: cluster.prefix, timeoutMs: HANG_MS });
    try {
      expect((await wallet.connect()).accepted).toEqual(local.addresses);
      await producer.walletSign(local.addresses[0]!, new Uint8Array(32).fill(3));
      const after = await scrape();
      const delta = (name: string): number => value(after, name) - value(before, name);
      expect(value(after, 'hway_gateway_connections')).toBe(1);
      // One proven key is routed under both its spellings, eth and fil.
      expect(value(after, 'hway_gateway_routes')).toBe(2);
      expect(delta('hway_gateway_handshakes_total')).toBe(1);
      expect(delta('hway_gateway_requests_total')).toBe(1);
      expect(delta('hway_gateway_signatures_total')).toBe(1);
      expect(delta('hway_gateway_failovers_total')).toBe(0);
      expect(value(after, 'hway_gateway_responses_total', { outcome: 'ok' }) - value(before, 'hway_gateway_responses_total', { outcome: 'ok' })).toBe(1);
      // An address nobody serves: answered, and counted by its error code.
      await expect(producer.walletSign('0x' + '11'.repeat(20), new Uint8Array(32).fill(4))).rejects.toMatchObject({ code: 'E_NO_WALLET' });
      expect(await metric('hway_gateway_responses_total', { outcome: 'E_NO_WALLET' })).toBe(value(before, 'hway_gateway_responses_total', { outcome: 'E_NO_WALLET' }) + 1);
      expect(after.body).not.toContain(local.addresses[0]!);
    } finally {
      await producer.close();
      await wallet.close();
    }
    await pollUntil(async () => (await metric('hway_gateway_connections')) === 0, 'the closed connection to leave the gauge');
  });

  test("the exposition format: prom-client's content type, HELP and TYPE for each family, Prometheus naming", async () => {
    const e = await scrape();
    expect(e.contentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const families = [...e.types.keys()];
    expect(families.length).toBeGreaterThan(40);
    for (const f of families) expect({ f, help: e.helps.has(f) }).toEqual({ f, help: true });
    const ours = families.filter((f) => f.startsWith('hway_'));
    for (const f of ours) {
      const type = e.types.get(f);
      if (type === 'counter') expect(f).toMatch(/_total$/);
      else expect({ f, endsTotal: f.endsWith('_total') }).toEqual({ f, endsTotal: false });
      if (f.endsWith('_seconds')) expect({ f, type }).toEqual({ f, type: 'histogram' });
    }
    // Each sample belongs to a declared family (a histogram's _bucket/_sum/_count to its family).
    for (const s of e.samples) {
      const family = e.types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, '');
      expect({ sample: s.name, declared: e.types.has(family) }).toEqual({ sample: s.name, declared: true });
      // NaN is valid in the format (prom-client's event-loop gauges start with it), never in ours.
      if (s.name.startsWith('hway_')) expect({ sample: s.name, nan: Number.isNaN(s.value) }).toEqual({ sample: s.name, nan: false });
    }
    for (const name of [
      'hway_tasks_total', 'hway_task_queue_wait_seconds', 'hway_task_run_seconds', 'hway_queue_depth', 'hway_dead_letters', 'hway_partitions_owned',
      'hway_lease_renew_failures_total', 'hway_enclave_calls_total', 'hway_enclave_timeouts_total', 'hway_enclave_worker_restarts_total',
      'hway_vaults_active', 'hway_vault_passivations_total', 'hway_vault_crashes_total', 'hway_gateway_connections', 'hway_gateway_routes',
      'hway_gateway_requests_total', 'hway_gateway_failovers_total', 'hway_redis_ping_seconds', 'hway_redis_reconnects_total',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
    ]) {
      expect({ name, present: e.types.has(name) }).toEqual({ name, present: true });
    }
    expect(e.types.get('hway_task_run_seconds')).toBe('histogram');
    expect(e.types.get('hway_queue_depth')).toBe('gauge');
    for (const reason of ['refused', 'error', 'expired']) expect(value(e, 'hway_lease_renew_failures_total', { reason })).toBe(0);
  });
});

describe('GET /metrics of a node whose enclave call overruns', () => {
  // The test build of the enclave: an export with this password spins for ever (enclaves/vault/ABI.md);
  // the short deadline only keeps the test short (see spec/vault-supervision.test.ts).
  const SPIN = 't_spin: never finishes';
  const slow = testCluster('http-metrics-timeout', P);
  afterAll(() => slow.cleanup());

  test('the stuck call is counted as an enclave timeout and a worker restart, and its task by its code', async () => {
    const n = slow.node({ enclavePlugin: 'vault-test.wasm', enclaveTimeoutMs: 1000, http: { port: 0 }, logger: quietLogger() });
    await n.start();
    const u = (await n.stats()).http!.url;
    expect(u).not.toBe(url); // a second endpoint (and registry) in this process
    const c = slow.client();
    await c.vault.generate('slow-vault');
    await expect(c.vault.export('slow-vault', SPIN, { maxRetries: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const body = await (await fetch(`${u}/metrics`)).text();
    expect(body).toMatch(/^hway_enclave_timeouts_total 1$/m);
    expect(Number(/^hway_enclave_worker_restarts_total (\S+)$/m.exec(body)?.[1])).toBeGreaterThanOrEqual(1);
    expect(body).toMatch(/^hway_tasks_total\{type="vault:export",outcome="E_TIMEOUT"\} 1$/m);
    expect(body).toMatch(/^hway_tasks_total\{type="vault:generate",outcome="ok"\} 1$/m);
    // The first node's registry saw none of this.
    expect((await scrape()).body).not.toMatch(/^hway_tasks_total\{type="vault:export"/m);
  });
});
