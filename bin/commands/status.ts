// `hway status`: the cluster view of the inspector (actors/inspect/cluster-view.ts), read from Redis
// alone (no node needs to answer), rendered for a terminal: nodes with liveness, tasks and enclave
// health, partition owners and fencing epochs, queue depths per priority, dead letters, and wallet
// connections of the signer gateway. `--watch` reads it again every --interval and shows tasks per
// second too (rates need two reads); on a terminal it redraws the screen, otherwise (a pipe, a log) it
// prints each view after the last. Ctrl-C ends it (exit 0). This file only renders: which keys hold
// what is the inspector's business.
import type { Redis } from 'ioredis';
import { readClusterView, type ClusterView, type NodeRow, type PartitionRow } from '../../actors/inspect/cluster-view.js';
import { ThroughputTracker, type Throughput } from '../../actors/inspect/throughput.js';
import { PRIORITIES } from '../../actors/ingress/keys.js';
import { clusterOptions, connectRedis, fail, flagHelp, parseFlags, positionals, REDIS_FLAGS, table, UsageError, type Command, type Io, type RedisTarget } from '../cli.js';

const FLAGS = {
  ...REDIS_FLAGS,
  watch: { type: 'boolean', desc: 'refresh until Ctrl-C (with tasks per second)' },
  interval: { type: 'number', env: 'HWAY_STATUS_INTERVAL', default: 2000, arg: 'MS', desc: 'time between refreshes with --watch (at least 100)' },
} as const;

const help = `hway status [flags]

Shows the cluster under --prefix: nodes (live ones with their heartbeat, tasks done and failed by
each, enclave health; nodes that died or left recently), partitions with their owner and fencing
epoch, queue depths per priority (waiting, and delivered but not yet done), scheduled tasks, dead
letters, tasks by type, and wallet connections of the signer gateway with their addresses.
--watch refreshes every --interval ms until Ctrl-C, with tasks per second by type; on a terminal it
redraws the screen, otherwise it prints one view after another (with --json: one object per line).

JSON: {"nodes":[{"id","partitions","expiresInMs","state","seenAgoMs","stats"}],
       "partitions":[{"partition","owner","epoch"}],
       "queues":{"critical":{"waiting","pending"},"default":{…},"low":{…},"scheduled"},
       "deadLetters":N,"wallets":{"connections":N,"live":N,"list":[{"id","kind","account","node","since","addresses"}]},
       "at","offlineNodes":[…],"deadLetterList":[…],"tasks":{"<type>":{"done","failed"}}}
      with --watch also "throughput":{"<type>":{"done","failed"}} (per second)

flags:
${flagHelp(FLAGS)}`;

const DEAD_LETTERS_SHOWN = 5;

const secs = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

function enclaveText(n: NodeRow): string {
  const e = n.stats?.enclave;
  if (e === undefined) return '-';
  if (!e.loaded) return 'not loaded';
  return `${e.instances} instances, ${e.calls} calls, ${e.timeouts} timeouts, ${e.restarts} restarts`;
}

function taskText(n: NodeRow): string {
  if (n.stats === null) return '-';
  let done = 0;
  let failed = 0;
  for (const c of Object.values(n.stats.tasks)) {
    done += c.done;
    failed += c.failed;
  }
  return `${done}/${failed}`;
}

export function render(s: ClusterView, prefix: string, throughput?: Throughput): string {
  const lines: string[] = [];
  lines.push(`nodes (${s.nodes.length}) under prefix "${prefix}"`);
  if (s.nodes.length === 0) lines.push('  none running (start one with: hway start)');
  else {
    lines.push(
      table([
        ['  id', 'partitions', 'heartbeat expires in', 'tasks ok/failed', 'enclave'],
        ...s.nodes.map((n) => [`  ${n.id}`, String(n.partitions), `${n.expiresInMs} ms`, taskText(n), enclaveText(n)]),
      ]),
    );
  }
  for (const n of s.offlineNodes) lines.push(`  ${n.id}: ${n.state === 'left' ? 'left' : 'DEAD'} (last seen ${secs(n.seenAgoMs ?? 0)} ago)${n.partitions ? `, still leases ${n.partitions} partitions` : ''}`);

  const owned = s.partitions.filter((p) => p.owner !== null);
  lines.push('', `partitions: ${owned.length} of ${s.partitions.length} owned`);
  // One row per owner with its partition list keeps 64 partitions readable.
  const byOwner = new Map<string, PartitionRow[]>();
  for (const p of owned) byOwner.set(p.owner!, [...(byOwner.get(p.owner!) ?? []), p]);
  if (byOwner.size) {
    lines.push(
      table([
        ['  owner', 'partitions (epoch)'],
        ...[...byOwner].map(([o, ps]) => [`  ${o}`, ps.map((p) => `${p.partition}(${p.epoch})`).join(' ')]),
      ]),
    );
  }
  const unowned = s.partitions.filter((p) => p.owner === null).map((p) => p.partition);
  if (unowned.length) lines.push(`  unowned: ${unowned.join(' ')}`);

  lines.push('', 'queues');
  lines.push(table([['  priority', 'waiting', 'pending'], ...PRIORITIES.map((p) => [`  ${p}`, String(s.queues[p].waiting), String(s.queues[p].pending)])]));
  lines.push(`  scheduled: ${s.queues.scheduled}`);

  const types = [...new Set([...Object.keys(s.tasks), ...Object.keys(throughput ?? {})])].sort();
  lines.push('', `tasks by type (live nodes, since each started${throughput ? '; per second over the last refresh' : ''})`);
  if (types.length === 0) lines.push('  none yet');
  else {
    const rate = (t: string, k: 'done' | 'failed'): string => (throughput?.[t]?.[k] ?? 0).toFixed(1);
    lines.push(
      table([
        ['  type', 'done', 'failed', ...(throughput ? ['done/s', 'failed/s'] : [])],
        ...types.map((t) => [`  ${t}`, String(s.tasks[t]?.done ?? 0), String(s.tasks[t]?.failed ?? 0), ...(throughput ? [rate(t, 'done'), rate(t, 'failed')] : [])]),
      ]),
    );
  }

  lines.push('', `dead letters: ${s.deadLetters}${s.deadLetters ? ' (hway dlq list)' : ''}`);
  const shown = s.deadLetterList.slice(0, DEAD_LETTERS_SHOWN);
  if (shown.length) lines.push(table([['  id', 'type', 'error'], ...shown.map((d) => [`  ${d.id}`, d.type, d.error?.code ?? '-'])]));
  if (s.deadLetters > shown.length && shown.length) lines.push(`  … ${s.deadLetters - shown.length} more`);

  lines.push('', `wallets: ${s.wallets.live} connected${s.wallets.connections > s.wallets.live ? ` (${s.wallets.connections - s.wallets.live} stale)` : ''}`);
  if (s.wallets.list.length) {
    lines.push(table([['  connection', 'kind', 'account', 'node', 'addresses'], ...s.wallets.list.map((w) => [`  ${w.id}`, w.kind, w.account, w.node, w.addresses.join(' ')])]));
  }
  return lines.join('\n');
}

/** Resolves after `ms`, or at once when `stop.wake` is called (Ctrl-C). */
function pause(ms: number, stop: { wake: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    stop.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

/**
 * The --watch loop. Redis going away does not end it: the error is printed and the next refresh
 * connects again (the CLI's connection does not retry by itself).
 */
async function watch(target: RedisTarget, prefix: string, partitions: number, everyMs: number, io: Io): Promise<number> {
  const stop: { stopped: boolean; wake: () => void } = { stopped: false, wake: () => undefined };
  const onSignal = (): void => {
    stop.stopped = true;
    stop.wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tty = process.stdout.isTTY === true && !io.json;
  const tracker = new ThroughputTracker();
  let r: Redis | undefined;
  try {
    while (!stop.stopped) {
      try {
        r ??= await connectRedis(target);
        const view = await readClusterView(r, { prefix, partitions });
        const throughput = tracker.update(view);
        const head = `hway status: ${new Date().toISOString()}, every ${secs(everyMs)} (Ctrl-C ends)`;
        if (tty) process.stdout.write('\x1b[H\x1b[2J');
        io.out({ ...view, throughput }, `${tty ? '' : '\n'}${head}\n\n${render(view, prefix, throughput)}`);
      } catch (e) {
        fail(io, e);
        r?.disconnect();
        r = undefined;
      }
      if (!stop.stopped) await pause(everyMs, stop);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    r?.disconnect();
  }
}

export const command: Command = {
  name: 'status',
  summary: 'nodes, partitions and owners, queue depths, tasks, dead letters, wallets (--watch)',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const { redis, prefix, partitions } = clusterOptions(flags);
    const every = flags.interval ?? 2000;
    if (every < 100) throw new UsageError('--interval must be at least 100 (ms)');
    if (flags.watch) return watch(redis, prefix, partitions, every, io);
    const r = await connectRedis(redis);
    try {
      const s = await readClusterView(r, { prefix, partitions });
      io.out(s, render(s, prefix));
      return 0;
    } finally {
      r.disconnect();
    }
  },
};
