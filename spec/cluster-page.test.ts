// The live cluster page (GET / of a node's HTTP endpoint), in a real browser: headless Chromium driven
// by playwright-core. Two nodes (one in this process, one a `hway start` child process so that it can be
// SIGKILLed), a wallet connected through the gateway, vault tasks that succeed and one that fails into
// the dead letters. The page, given an admin credential, shows the same nodes, partition owners, task
// counts by type, queue depths, dead letters and wallet addresses as the cluster view read from Redis
// (and as what the test did); a dead letter is requeued from the page and then runs; the killed node
// turns dead on the page once its heartbeat expires (waited for, never timed). The data routes refuse
// without an admin credential (401 / 403, and 401 on a node without auth), the page and its assets need
// none and carry a strict CSP, and the page loads nothing from elsewhere. Screenshot:
// test-artifacts/cluster-page.png.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { HwayClient } from '../actors/client.js';
import { WalletConnector, localKeyWallet } from '../actors/gateway/index.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { readClusterView, type ClusterView } from '../actors/inspect/cluster-view.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { hwayLongRunning, quietLogger, ROOT, stopLongRunning, type LongRunning } from './helpers/cli.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { REDIS, redisEnv, testCluster, testRedis } from './helpers/node.js';

const P = 8;
const cluster = testCluster('cluster-page', P);
const open = testCluster('cluster-page-open', 2);
const secret = randomBytes(32).toString('hex');
const childDir = mkdtempSync(join(tmpdir(), 'hway-cluster-page-'));
const SCREENSHOT = join(ROOT, 'test-artifacts', 'cluster-page.png');
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let nodeA: HwayNode;
let urlA: string;
let child: LongRunning | undefined;
let tokens: TokenService;
let admin: string;
let reader: string;
let client: HwayClient;
let wallet: WalletConnector;
let walletAddress: string;
let redis: Redis;
let browser: Browser | undefined;

const view = (): Promise<ClusterView> => readClusterView(redis, { prefix: cluster.prefix, partitions: P, deadLetterLimit: 50 });

beforeAll(async () => {
  redis = testRedis();
  nodeA = cluster.node({ nodeId: 'page-a', tokenSecret: secret, http: { port: 0 }, logger: quietLogger() });
  // The second node is the CLI's, in its own process (the default lease: 2.5 s); both start at once.
  [child] = await Promise.all([
    hwayLongRunning(
      ['start', '--prefix', cluster.prefix, '--partitions', String(P), '--data-dir', childDir, '--node-id', 'page-b', '--http', '127.0.0.1:0', '--json'],
      (out) => out.includes('"ready":true'),
      { env: { ...redisEnv(), HWAY_TOKEN_SECRET: secret, HWAY_MASTER_KEY: cluster.masterKey } },
    ),
    nodeA.start(),
  ]);
  urlA = (await nodeA.stats()).http!.url;
  tokens = new TokenService({ redis: REDIS, secret, prefix: cluster.prefix, subscribe: false });
  admin = (await tokens.issue({ account: 'ops', perm: 'admin', ttlSec: 3600 })).token;
  reader = (await tokens.issue({ account: 'ops', perm: 'read', ttlSec: 3600 })).token;
  client = cluster.client({ token: (await tokens.issue({ account: 'acme', perm: 'admin', ttlSec: 3600 })).token });
  const local = localKeyWallet([secp256k1.utils.randomSecretKey()]);
  walletAddress = local.addresses[0]!;
  wallet = new WalletConnector({ redis: REDIS, prefix: cluster.prefix, token: (await tokens.issue({ account: 'acme', perm: 'sign', ttlSec: 3600 })).token, logger: quietLogger(), ...local });
  expect((await wallet.connect()).accepted).toEqual(local.addresses);
  // Both nodes hold their share before the work starts, so the partition map stays put.
  await pollUntil(async () => {
    const v = await view();
    return v.nodes.length === 2 && v.nodes.every((n) => n.partitions === P / 2);
  }, 'both nodes to hold 4 partitions each');
});

afterAll(async () => {
  await browser?.close();
  await wallet?.close();
  await tokens?.close();
  await stopLongRunning(child, 'SIGKILL');
  await cluster.cleanup();
  await open.cleanup();
  redis?.disconnect();
  rmSync(childDir, { recursive: true, force: true });
});

/** An event stream read as text: `until` reads on until `cond` holds of all read so far, or the stream ends. */
function eventStream(res: Response): { until: (cond: (text: string) => boolean) => Promise<{ text: string; ended: boolean }> } {
  const rd = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  return {
    async until(cond) {
      // Hang guard only: a stream that never says what is awaited is cancelled, which ends the read.
      const guard = setTimeout(() => void rd.cancel().catch(() => undefined), HANG_MS);
      try {
        for (;;) {
          const { value, done } = await rd.read();
          if (done) return { text, ended: true };
          text += dec.decode(value, { stream: true });
          if (cond(text)) return { text, ended: false };
        }
      } finally {
        clearTimeout(guard);
      }
    },
  };
}

describe('the data routes', () => {
  test('refuse without an admin credential (401 / 403); the page and assets need none and carry the CSP', async () => {
    const events = `${urlA}/cluster/events`;
    const none = await fetch(events);
    expect([none.status, ((await none.json()) as { error: { code: string } }).error.code]).toEqual([401, 'E_UNAUTHORIZED']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrongKey = `${admin.slice(0, admin.lastIndexOf('.'))}.${Buffer.alloc(32, 7).toString('base64url')}`;
    for (const bad of [wrongKey, admin.slice(0, admin.lastIndexOf('.')), 'not-a-credential']) {
      const r = await fetch(events, { headers: { authorization: `Bearer ${bad}` } });
      expect([r.status, ((await r.json()) as { error: { code: string } }).error.code]).toEqual([401, 'E_UNAUTHORIZED']);
    }
    const low = await fetch(events, { headers: { authorization: `Bearer ${reader}` } });
    expect([low.status, ((await low.json()) as { error: { code: string } }).error.code]).toEqual([403, 'E_FORBIDDEN']);
    const requeue = await fetch(`${urlA}/cluster/dead-letters/some-task/requeue`, { method: 'POST', headers: { authorization: `Bearer ${reader}` } });
    expect(requeue.status).toBe(403);
    expect((await fetch(`${urlA}/cluster/dead-letters/some-task/requeue`, { method: 'POST' })).status).toBe(401);

    // The page and its assets: no auth, no data (no node id, no prefix), the CSP and friends.
    for (const [path, type] of [['/', 'text/html'], ['/cluster/page.js', 'text/javascript'], ['/cluster/page.css', 'text/css']] as const) {
      const r = await fetch(`${urlA}${path}`);
      expect([path, r.status]).toEqual([path, 200]);
      expect(r.headers.get('content-type')).toContain(type);
      expect(r.headers.get('content-security-policy')).toBe(CSP);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      const body = await r.text();
      expect(body).not.toContain('page-a');
      expect(body).not.toContain(cluster.prefix);
    }
    const html = await (await fetch(`${urlA}/`)).text();
    // Nothing inline, nothing from elsewhere.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc="\/cluster\/page\.js")/);
    expect(html).not.toMatch(/<style|\sstyle=|https?:\/\//);
  });

  test('stream the cluster view to an admin, with the CSP; a revoked token ends the stream', async () => {
    const { token, jti } = await tokens.issue({ account: 'ops', perm: 'admin', ttlSec: 600 });
    const res = await fetch(`${urlA}/cluster/events`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    const events = eventStream(res);
    expect(await events.until((t) => t.includes('event: view\n'))).toMatchObject({ ended: false });
    await tokens.revoke(jti);
    // The stream ends with an auth event once the node has heard of the revocation.
    const rest = await events.until(() => false);
    expect(rest.ended).toBe(true);
    expect(rest.text).toMatch(/event: auth\ndata: \{"code":"E_UNAUTHORIZED"/);
  });

  test('a node without auth refuses them (401), saying that auth is off; stopped, it shows as left', async () => {
    const n = open.node({ gateway: false, http: { port: 0 }, logger: quietLogger() });
    await n.start();
    const url = (await n.stats()).http!.url;
    const r = await fetch(`${url}/cluster/events`, { headers: { authorization: `Bearer ${admin}` } });
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect([r.status, body.error.code]).toEqual([401, 'E_UNAUTHORIZED']);
    expect(body.error.message).toContain('auth is off');
    expect((await fetch(`${url}/`)).status).toBe(200);
    // A graceful stop leaves the membership and says so in the node's last stats record: "left", not dead.
    await n.stop();
    const v = await readClusterView(redis, { prefix: open.prefix, partitions: 2 });
    expect(v.nodes).toEqual([]);
    expect(v.offlineNodes).toEqual([expect.objectContaining({ id: n.nodeId, state: 'left', stats: expect.objectContaining({ left: true }) })]);
  });
});

// ---- the page as the browser shows it ----

interface Shown {
  nodes: Record<string, { state: string; partitions: string; done: string; failed: string; enclave: string; instances: string; calls: string; timeouts: string; restarts: string }>;
  owners: Record<string, string>;
  tasks: Record<string, { done: string; failed: string }>;
  queues: Record<string, { waiting: string; pending: string }>;
  dead: { count: string; ids: string[] };
  wallets: { count: string; addresses: string[] };
}

/** What the page shows now, read from its DOM. */
function shown(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const cells = (tr: Element): Record<string, string> => Object.fromEntries(Array.from(tr.querySelectorAll('td[data-k]')).map((c) => [(c as HTMLElement).dataset.k!, c.textContent ?? '']));
    const rows = (sel: string, key: string): Record<string, Record<string, string>> =>
      Object.fromEntries(Array.from(document.querySelectorAll(`${sel} tbody tr`)).map((tr) => [(tr as HTMLElement).dataset[key]!, cells(tr)]));
    const nodes = Object.fromEntries(
      Object.entries(rows('#nodes', 'node')).map(([id, c]) => [id, { state: c.state!, partitions: c.partitions!, done: c.done!, failed: c.failed!, enclave: c.enclave!, instances: c.instances!, calls: c.calls!, timeouts: c.timeouts!, restarts: c.restarts! }]),
    );
    // The owner of each partition as its cell's tooltip says it.
    const owners = Object.fromEntries(Array.from(document.querySelectorAll('#partitions .cell')).map((d) => [d.textContent ?? '', /: (\S+)/.exec((d as HTMLElement).title)?.[1] ?? '']));
    const tasks = Object.fromEntries(Object.entries(rows('#tasks', 'type')).map(([t, c]) => [t, { done: c.done!, failed: c.failed! }]));
    const queues = Object.fromEntries(Object.entries(rows('#queues', 'priority')).map(([p, c]) => [p, { waiting: c.waiting!, pending: c.pending! }]));
    const dead = { count: document.getElementById('dead-count')!.textContent ?? '', ids: Object.keys(rows('#dead', 'id')).sort() };
    const wallets = { count: document.getElementById('wallet-count')!.textContent ?? '', addresses: Array.from(document.querySelectorAll('#wallets .addr')).map((a) => a.textContent ?? '').sort() };
    return { nodes, owners, tasks, queues, dead, wallets };
  });
}

/** What the page should show for a cluster view (read from Redis by the test, not through the page). */
function expected(v: ClusterView): Shown {
  const nodes: Shown['nodes'] = {};
  for (const n of [...v.nodes, ...v.offlineNodes]) {
    const e = n.stats?.enclave;
    let done = 0;
    let failed = 0;
    for (const c of Object.values(n.stats?.tasks ?? {})) {
      done += c.done;
      failed += c.failed;
    }
    const or = (x: number | undefined): string => (x === undefined ? '-' : String(x));
    nodes[n.id] = {
      state: n.state,
      partitions: String(n.partitions),
      done: n.stats ? String(done) : '-',
      failed: n.stats ? String(failed) : '-',
      enclave: e === undefined ? '-' : e.loaded ? 'loaded' : 'not loaded',
      instances: or(e?.instances),
      calls: or(e?.calls),
      timeouts: or(e?.timeouts),
      restarts: or(e?.restarts),
    };
  }
  const owners = Object.fromEntries(v.partitions.map((p) => [String(p.partition), p.owner ?? '']));
  const tasks = Object.fromEntries(Object.entries(v.tasks).map(([t, c]) => [t, { done: String(c.done), failed: String(c.failed) }]));
  const queues: Shown['queues'] = {};
  for (const p of ['critical', 'default', 'low'] as const) queues[p] = { waiting: String(v.queues[p].waiting), pending: String(v.queues[p].pending) };
  queues.scheduled = { waiting: String(v.queues.scheduled), pending: '' };
  return {
    nodes,
    owners,
    tasks,
    queues,
    dead: { count: String(v.deadLetters), ids: v.deadLetterList.map((d) => d.id).sort() },
    wallets: { count: `${v.wallets.live} connected`, addresses: v.wallets.list.flatMap((w) => w.addresses).sort() },
  };
}

/**
 * Waits until the page shows what Redis holds and `also` holds of it (the page is a second behind at
 * most, and the nodes publish their counts every second); the hang guard's failure shows the diff.
 */
async function untilPageMatches(page: Page, what: string, also: (v: ClusterView) => boolean = () => true): Promise<{ page: Shown; view: ClusterView }> {
  let last: { page: Shown; want: Shown; view: ClusterView } | undefined;
  try {
    await pollUntil(async () => {
      const v = await view();
      const want = expected(v);
      last = { page: await shown(page), want, view: v };
      return also(v) && isDeepStrictEqual(last.page, want);
    }, what, { intervalMs: 200 });
  } catch (e) {
    expect(last?.page).toEqual(last?.want);
    throw e;
  }
  return { page: last!.page, view: last!.view };
}

/** A vault id whose partition `owner` holds now. */
function vaultOf(v: ClusterView, owner: string, tag: string): string {
  for (let i = 0; i < 10_000; i++) {
    const id = `page-${tag}-${i}`;
    if (v.partitions[partitionOf(id, P)]!.owner === owner) return id;
  }
  throw new Error(`${owner} owns no partition`);
}

test('in Chromium: the numbers match the cluster, a dead letter is requeued, a killed node turns dead', async () => {
  const browserStarting = chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: HANG_MS,
  });
  // Work on both nodes (a vault in the partitions of each): vaults, signatures, a sign of a vault that
  // does not exist yet (a dead letter), and two delayed tasks (scheduled).
  const settled = await view();
  const [onA, onB] = [vaultOf(settled, 'page-a', 'a'), vaultOf(settled, 'page-b', 'b')];
  await client.vault.generate(onA);
  await client.vault.generate(onB);
  for (let i = 0; i < 3; i++) await client.vault.sign(i === 1 ? onB : onA, randomBytes(32));
  const lateId = await client.enqueue('vault:sign', { vaultId: 'page-late', data: 'ab'.repeat(32), hash: 'none' }, { key: 'page-late' });
  await pollUntil(async () => (await client.result(lateId, { key: 'page-late' }))?.ok === false, 'the failing sign to end');
  await client.enqueue('vault:info', { vaultId: onA }, { delayMs: 600_000 });
  await client.enqueue('vault:info', { vaultId: onB }, { delayMs: 600_000 });
  const work = (v: ClusterView): boolean =>
    isDeepStrictEqual(v.tasks, { 'vault:generate': { done: 2, failed: 0 }, 'vault:sign': { done: 3, failed: 1 } }) &&
    v.deadLetters === 1 &&
    v.queues.scheduled === 2 &&
    v.wallets.live === 1 &&
    v.nodes.length === 2 &&
    v.nodes.every((n) => n.partitions === P / 2);

  browser = await browserStarting;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(HANG_MS);
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));

  await page.goto(`${urlA}/`);
  await page.fill('#token', admin);
  await page.click('#connect');
  await page.waitForSelector('#board:not([hidden])');
  expect(await page.inputValue('#token')).toBe(''); // not kept in the form

  // The numbers: as Redis has them, and as the test made them.
  const before = await untilPageMatches(page, 'the page to show the work', work);
  expect(Object.keys(before.page.nodes).sort()).toEqual(['page-a', 'page-b']);
  for (const id of ['page-a', 'page-b']) expect(before.page.nodes[id]).toMatchObject({ state: 'alive', partitions: String(P / 2), enclave: 'loaded', timeouts: '0' });
  // Each node ran its own vault's tasks: page-a a generate and 2 signs, page-b a generate and a sign.
  for (const id of ['page-a', 'page-b']) expect(Number(before.page.nodes[id]!.done)).toBeGreaterThanOrEqual(2);
  expect(Number(before.page.nodes['page-a']!.calls)).toBeGreaterThan(0);
  expect(before.page.nodes['page-a']!.partitions).toBe(String((await nodeA.stats()).partitions.length));
  expect(before.page.tasks).toEqual({ 'vault:generate': { done: '2', failed: '0' }, 'vault:sign': { done: '3', failed: '1' } });
  expect(before.page.queues.scheduled!.waiting).toBe('2');
  expect(before.page.dead).toEqual({ count: '1', ids: [lateId] });
  expect(before.page.wallets).toEqual({ count: '1 connected', addresses: [walletAddress] });
  expect(new Set(Object.values(before.page.owners))).toEqual(new Set(['page-a', 'page-b']));

  // Requeue from the page, once the vault exists: the task runs again and succeeds.
  await client.vault.generate('page-late');
  await page.click(`#dead tr[data-id="${lateId}"] button.requeue`);
  await page.waitForSelector('#requeue-status[data-result="ok"]');
  await pollUntil(async () => (await client.result(lateId, { key: 'page-late' }))?.ok === true, 'the requeued sign to succeed');
  const after = await untilPageMatches(page, 'the page to show the requeue', (v) => v.deadLetters === 0 && v.tasks['vault:sign']?.done === 4);
  expect(after.page.dead).toEqual({ count: '0', ids: [] });
  expect(after.page.tasks['vault:sign']).toEqual({ done: '4', failed: '1' });

  // SIGKILL the child: no goodbye, so its heartbeat runs out and the page shows it dead; the other
  // node takes its partitions.
  child!.proc.kill('SIGKILL');
  await child!.exited;
  const dead = await untilPageMatches(page, 'the killed node to show dead', (v) => v.offlineNodes.some((n) => n.id === 'page-b' && n.state === 'dead') && v.nodes.length === 1 && v.nodes[0]!.partitions === P);
  expect(dead.page.nodes['page-b']!.state).toBe('dead');
  expect(dead.page.nodes['page-a']).toMatchObject({ state: 'alive', partitions: String(P) });
  expect(new Set(Object.values(dead.page.owners))).toEqual(new Set(['page-a']));
  expect(await page.getAttribute('#nodes tr[data-node="page-b"]', 'data-state')).toBe('dead');

  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Nothing came from elsewhere, the credential never went into a URL, and no CSP violation or error.
  const origin = new URL(urlA).origin;
  expect(requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
  expect(requests.filter((u) => u.includes(admin.slice(0, 20)) || /bearer|token=/i.test(u))).toEqual([]);
  expect(problems).toEqual([]);
});
