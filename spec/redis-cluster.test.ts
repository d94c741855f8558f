// The local Redis Cluster the cluster pass runs on (spec/helpers/redis-cluster.ts), checked on a small
// cluster of its own: every slot served, one hash tag = one slot = one master, sharded pub/sub through
// the ioredis Cluster client Highway builds (storage/redis.ts connect, sharded), a failover that keeps a write
// the replica had acknowledged, and a stop that leaves no process behind.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { connect, isCluster, masters as mastersOf } from '../storage/redis.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { ON_CLUSTER } from './helpers/redis.js';
import { startCluster, type LocalCluster } from './helpers/redis-cluster.js';

const SLOTS = 16384;
type SlotRange = [number, number, ...Array<[string, number, ...unknown[]]>];

function direct(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => undefined);
  return r;
}

/** `p`, or an error naming `what` if it never settles (a hang-only deadline). */
async function hangOnly<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${HANG_MS} ms (hang-only deadline)`)), HANG_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The port of the master that serves `slot`, per CLUSTER SLOTS. */
function masterOf(ranges: SlotRange[], slot: number): number {
  const r = ranges.find(([a, b]) => slot >= a && slot <= b);
  if (!r) throw new Error(`slot ${slot} is not served`);
  return Number(r[2]![1]);
}

// Run in the single-Redis pass only: the cluster pass already runs every suite on such a cluster.
(ON_CLUSTER ? describe.skip : describe)('a local Redis Cluster', () => {
  let c: LocalCluster;
  let conn: Redis;
  let allPids: number[] = [];
  const others: Redis[] = [];

  beforeAll(async () => {
    c = await startCluster();
    allPids = [...c.pids().values()];
    conn = connect({ cluster: c.seeds }, {});
  });

  afterAll(async () => {
    for (const r of [conn, ...others]) r?.disconnect();
    await c?.stop();
  });

  test('three masters with a linked replica each serve all 16384 slots', async () => {
    expect(c.ports).toHaveLength(6);
    expect(allPids).toHaveLength(6);
    const masters = await c.masters();
    expect(masters).toHaveLength(3);
    const ranges = (await conn.cluster('SLOTS')) as SlotRange[];
    let covered = 0;
    for (const [a, b, master] of ranges) {
      covered += b - a + 1;
      expect(masters).toContain(Number(master![1]));
    }
    expect(covered).toBe(SLOTS);
    // Replicas per CLUSTER NODES (CLUSTER SLOTS lists a replica only once its replication offset is
    // above 0, i.e. after the first write or ping its master sends it).
    const lines = String(await conn.cluster('NODES')).trim().split('\n').map((l) => l.split(' '));
    const masterIds = lines.filter(([, , f]) => f!.split(',').includes('master')).map(([id]) => id);
    expect(masterIds).toHaveLength(3);
    for (const id of masterIds) {
      expect({ master: id, replicas: lines.filter(([, , f, m]) => f!.split(',').includes('slave') && m === id).length }).toEqual({ master: id, replicas: 1 });
    }
    expect(isCluster(conn)).toBe(true);
    // The client knows the masters once it has loaded the slot map (CLUSTER commands may go out before:
    // an ordinary command waits for it).
    await conn.ping();
    expect(mastersOf(conn).map((n) => n.options.port).sort()).toEqual(masters.map(Number).sort());
  });

  test('keys of one hash tag share a slot and a master; a script over them works, across tags it is refused', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `smoke:{7}:k${i}`);
    for (const k of keys) await conn.set(k, k);
    const slots = new Set(await Promise.all(keys.map((k) => conn.cluster('KEYSLOT', k))));
    expect(slots.size).toBe(1);
    const ranges = (await conn.cluster('SLOTS')) as SlotRange[];
    const home = masterOf(ranges, Number([...slots][0]));
    // Each master holds only its own keys: all 20 are on the home master, none elsewhere.
    for (const port of await c.masters()) {
      const r = direct(port);
      const found = (await Promise.all(keys.map((k) => r.call('EXISTS', k).catch(() => 0)))).reduce<number>((n, x) => n + Number(x), 0);
      await r.quit();
      expect({ port, found }).toEqual({ port, found: port === home ? keys.length : 0 });
    }
    // Several keys of one tag in one script (what every Highway Lua script does) ...
    expect(await conn.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, keys[0]!, keys[1]!)).toEqual([keys[0], keys[1]]);
    // ... and the error a cluster gives when they span slots (what the tests and the code must avoid),
    // whether or not the slots are on one node.
    const homeConn = direct(home);
    await expect(homeConn.call('DEL', 'smoke:{7}:k0', 'smoke:{8}:k0')).rejects.toThrow(/CROSSSLOT/);
    await homeConn.quit();
    await expect(conn.eval("return redis.call('GET', KEYS[1])", 2, 'smoke:{7}:k0', 'smoke:{8}:k0')).rejects.toThrow(/CROSSSLOT/);
    // Different tags spread over the masters.
    const spread = new Set(await Promise.all(Array.from({ length: 50 }, async (_, i) => masterOf(ranges, Number(await conn.cluster('KEYSLOT', `smoke:{t${i}}:x`))))));
    expect(spread.size).toBe(3);
  });

  test('a sharded message on x:{7}:wake arrives through a Cluster client from connect(…, { sharded: true })', async () => {
    // A subscriber connection asks for sharded subscribers (one per master); without them ioredis sends
    // SSUBSCRIBE through its one classic subscriber, to a random node, and never follows the MOVED.
    const sub = connect({ cluster: c.seeds }, {}, { sharded: true });
    others.push(sub);
    const got: Array<[string, string]> = [];
    sub.on('smessage', (channel: string, message: string) => got.push([channel, message]));
    await hangOnly(sub.ssubscribe('x:{7}:wake'), 'SSUBSCRIBE x:{7}:wake');
    await conn.spublish('x:{7}:wake', 'wake-1');
    await pollUntil(() => got.length > 0, 'the sharded message');
    // A channel of another slot is not delivered to this subscription.
    await conn.spublish('x:{8}:wake', 'other');
    await conn.spublish('x:{7}:wake', 'wake-2');
    await pollUntil(() => got.length >= 2, 'the second sharded message');
    expect(got).toEqual([
      ['x:{7}:wake', 'wake-1'],
      ['x:{7}:wake', 'wake-2'],
    ]);
  });

  test('after SIGKILL of a master and the failover, a write its replica had acknowledged is readable', async () => {
    const key = 'smoke:{7}:durable';
    const ranges = (await conn.cluster('SLOTS')) as SlotRange[];
    const victim = masterOf(ranges, Number(await conn.cluster('KEYSLOT', key)));
    const m = direct(victim);
    await m.set(key, 'before');
    // Replication is asynchronous: a write the master acknowledged but had not yet sent to its replica
    // is lost when the replica takes over. WAIT makes this one certainly replicated first.
    expect(await m.call('WAIT', '1', String(HANG_MS))).toBe(1);
    // Writes that are not waited for: counted after the failover, for information only.
    const loose = Array.from({ length: 200 }, (_, i) => `smoke:{7}:loose-${i}`);
    await Promise.all(loose.map((k) => m.set(k, '1')));
    await m.quit();

    await c.killMaster(victim);
    expect(c.pids().has(victim)).toBe(false);
    await c.waitForFailover(victim);
    const masters = await c.masters();
    expect(masters).toHaveLength(3);
    expect(masters).not.toContain(victim);

    // A new client through the survivors, and the old one once it has found the new master.
    const after = connect({ cluster: c.seeds.filter((s) => s.port !== victim) }, {});
    others.push(after);
    expect(await after.get(key)).toBe('before');
    await pollUntil(async () => (await conn.get(key).catch(() => null)) === 'before', 'the old client to read through the new master');
    const kept = (await Promise.all(loose.map((k) => after.exists(k)))).reduce<number>((n, x) => n + x, 0);
    console.log(`failover of ${victim}: the acknowledged-and-replicated write survived; ${kept}/${loose.length} un-waited writes survived`);
    // Writes go on, to the new master of the slot.
    await conn.set(key, 'after');
    expect(await after.get(key)).toBe('after');
  });

  test('stop() leaves no redis-server of the cluster and removes its directory', async () => {
    for (const r of others.splice(0)) r.disconnect();
    conn.disconnect();
    await c.stop();
    const alive = allPids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    expect(c.pids().size).toBe(0);
    expect(existsSync(c.dir)).toBe(false);
  });
});
