// A real Redis Cluster on this machine, for tests: `redis-server` processes on free ports (cluster
// mode, no persistence, everything in one temporary directory), joined with `redis-cli --cluster
// create`. Every wait polls for a state (never a fixed sleep) and gives up only after HANG_MS.
//
// No redis-server outlives its test process: each runs under a small `sh` that holds a pipe from us
// and SIGKILLs the server when that pipe closes, which the kernel does whenever this process ends,
// even by SIGKILL; a normal exit also kills them in an 'exit' handler, and stop() kills them at once.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HANG_MS, pollUntil } from './deadlines.js';

export interface Seed {
  host: string;
  port: number;
}

export interface ClusterStartOptions {
  /** Masters (default 3); 16384 slots are split among them. */
  masters?: number;
  /** Replicas per master (default 1). */
  replicas?: number;
  /** cluster-node-timeout (default 2000 ms): how long a node may be unreachable before a failover. */
  nodeTimeoutMs?: number;
}

export interface LocalCluster {
  /** Every node, masters and replicas, as at start-up. */
  seeds: Seed[];
  ports: number[];
  /** "h:p,h:p,…": the form of HWAY_TEST_REDIS_CLUSTER and HWAY_REDIS_CLUSTER. */
  seedList: string;
  dir: string;
  /** Current master ports (masters holding slots and not failed, per CLUSTER NODES of a live node), ascending. */
  masters(): Promise<number[]>;
  /** The redis-server process id of each node still running, by port. */
  pids(): Map<number, number>;
  /** SIGKILL the redis-server of `port` (a master) and wait until the process is gone. */
  killMaster(port: number): Promise<void>;
  /** Until a former replica of `deadPort` is a master with its slots and every survivor says cluster_state:ok. */
  waitForFailover(deadPort: number): Promise<void>;
  /** Kill every node and remove the directory; resolves once every process has exited. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const SLOTS = 16384;

interface NodeProc {
  port: number;
  busPort: number;
  sh: ChildProcess;
  exited: Promise<void>;
  /** The sh's exit code once it exited (that of redis-server; 127: not found). */
  code?: number | null;
  /** The redis-server's pid, once it answered. */
  pid?: number;
  /** Cluster node id (CLUSTER MYID), once it answered. */
  id?: string;
}

// Every node of every cluster started by this process, for the exit handler.
const live = new Set<NodeProc>();
let exitHandler = false;
function killAllOnExit(): void {
  if (exitHandler) return;
  exitHandler = true;
  process.on('exit', () => {
    for (const n of live) {
      for (const pid of [n.pid, n.sh.pid === undefined ? undefined : -n.sh.pid]) {
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  });
}

/** A port bound once to 127.0.0.1 and released (a redis-server that still loses a race to it is restarted on others). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One command on a short-lived connection that never retries: for polling nodes that may be down (a
 * killed node refuses at once). The timeouts only turn a node that hangs into an error.
 */
async function ask(port: number, ...args: string[]): Promise<string> {
  const r = new Redis({ host: HOST, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 30_000, commandTimeout: 30_000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const [cmd, ...rest] = args as [string, ...string[]];
    return String(await r.call(cmd, ...rest));
  } finally {
    r.disconnect();
  }
}

/** As ask(), but null when the node does not answer. */
export async function tryAsk(port: number, ...args: string[]): Promise<string | null> {
  try {
    return await ask(port, ...args);
  } catch {
    return null;
  }
}

const field = (info: string, name: string): string | undefined => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: number;
}

function parseNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id, addr, flags, masterId, , , , , ...slotRanges] = l.split(' ');
      const port = Number(/:(\d+)/.exec(addr ?? '')?.[1] ?? 0);
      let slots = 0;
      for (const r of slotRanges) {
        if (r.startsWith('[')) continue; // a slot being migrated
        const [a, b] = r.split('-').map(Number);
        slots += b === undefined ? 1 : b - a! + 1;
      }
      return { id: id!, port, flags: (flags ?? '').split(','), masterId: masterId ?? '-', slots };
    });
}

/** Failed by the cluster's agreement (FAIL), not merely suspected by one node (PFAIL, "fail?"). */
const isFailed = (n: NodeLine): boolean => n.flags.includes('fail') || n.flags.includes('noaddr');
/** Failed or suspected: a node of a healthy cluster is neither. */
const isSuspect = (n: NodeLine): boolean => isFailed(n) || n.flags.includes('fail?');

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: HANG_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

// sh runs the server in the background and waits for it (exiting with its status); a second
// background job reads our pipe (saved on fd 3: an asynchronous list's stdin is /dev/null) and, when
// the pipe reaches end of file (this process is gone without stop()), kills the server and removes its
// files, and the directory once the other nodes' watchers have emptied it.
const WRAPPER =
  'exec 3<&0; redis-server "$@" </dev/null 3<&- & pid=$!; ' +
  '(cat <&3 >/dev/null; kill -9 $pid 2>/dev/null; rm -f "$RC_DIR/nodes-$RC_PORT.conf" "$RC_DIR/redis-$RC_PORT.log" "$RC_DIR/dump-$RC_PORT.rdb" "$RC_DIR"/temp-*.rdb; for i in 1 2 3 4 5; do rmdir "$RC_DIR" 2>/dev/null && break; sleep 1; done) & ' +
  'wait $pid';

function spawnNode(dir: string, port: number, busPort: number, nodeTimeoutMs: number): NodeProc {
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--cluster-enabled', 'yes',
    '--cluster-port', String(busPort),
    '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    // A replica stores what its master sends it (full sync) as an RDB file: one per node.
    '--dbfilename', `dump-${port}.rdb`,
    '--daemonize', 'no',
    '--logfile', join(dir, `redis-${port}.log`),
  ];
  // detached: its own process group, so that stop() can kill the sh, the server and the watcher at once.
  const sh = spawn('sh', ['-c', WRAPPER, 'redis-node', ...args], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, RC_DIR: dir, RC_PORT: String(port) },
  });
  sh.stdin!.on('error', () => undefined);
  const n: NodeProc = { port, busPort, sh, exited: Promise.resolve() };
  n.exited = new Promise<void>((resolve) => {
    sh.once('exit', (code) => {
      n.code = code;
      resolve();
    });
  });
  live.add(n);
  return n;
}

function logTail(dir: string, port: number): string {
  try {
    return readFileSync(join(dir, `redis-${port}.log`), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts one node; retries on other ports when the server exits at once (a port taken in between). */
async function startNode(dir: string, nodeTimeoutMs: number): Promise<NodeProc> {
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let busPort = await freePort();
    while (busPort === port) busPort = await freePort();
    const n = spawnNode(dir, port, busPort, nodeTimeoutMs);
    let gone = false;
    void n.exited.then(() => (gone = true));
    await pollUntil(async () => gone || (await tryAsk(port, 'PING')) === 'PONG', `redis-server on port ${port} to answer`, { intervalMs: 25 });
    if (!gone) {
      n.pid = Number(field(await ask(port, 'INFO', 'server'), 'process_id'));
      n.id = await ask(port, 'CLUSTER', 'MYID');
      return n;
    }
    live.delete(n);
    if (n.code === 127) throw new Error('redis-server is not on PATH (a Redis 7 server is needed for the cluster tests)');
    lastLog = logTail(dir, port);
  }
  throw new Error(`redis-server would not start in cluster mode; last log:\n${lastLog}`);
}

async function killNode(n: NodeProc): Promise<void> {
  // The server first, and wait for its sh, which reaps it (so that no zombie is left when this
  // resolves); then the rest of the group (the watcher).
  try {
    if (n.pid) process.kill(n.pid, 'SIGKILL');
    else if (n.sh.pid) process.kill(-n.sh.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await n.exited;
  try {
    if (n.sh.pid) process.kill(-n.sh.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  n.sh.stdin?.destroy();
  live.delete(n);
}

/** Whether every node sees a healthy cluster: state ok, every slot assigned, all nodes known, replicas linked. */
async function healthy(nodes: NodeProc[], mastersWanted: number, replicas: number): Promise<boolean> {
  for (const n of nodes) {
    const info = await tryAsk(n.port, 'CLUSTER', 'INFO');
    if (info === null) return false;
    if (field(info, 'cluster_state') !== 'ok') return false;
    if (Number(field(info, 'cluster_slots_assigned')) !== SLOTS || Number(field(info, 'cluster_slots_ok')) !== SLOTS) return false;
    if (Number(field(info, 'cluster_known_nodes')) !== nodes.length) return false;
    const view = await tryAsk(n.port, 'CLUSTER', 'NODES');
    if (view === null) return false;
    const lines = parseNodes(view);
    if (lines.length !== nodes.length || lines.some((l) => isSuspect(l) || l.flags.includes('handshake'))) return false;
    // This node's view agrees on the topology: every master with slots has its replicas.
    const masterIds = lines.filter((l) => l.flags.includes('master') && l.slots > 0).map((l) => l.id);
    if (masterIds.length !== mastersWanted) return false;
    for (const id of masterIds) if (lines.filter((l) => l.flags.includes('slave') && l.masterId === id).length !== replicas) return false;
    const repl = await tryAsk(n.port, 'INFO', 'replication');
    if (repl === null) return false;
    if (field(repl, 'role') === 'slave' && (field(repl, 'master_link_status') !== 'up' || field(repl, 'master_sync_in_progress') !== '0')) return false;
  }
  return true;
}

export async function startCluster(opts: ClusterStartOptions = {}): Promise<LocalCluster> {
  const mastersWanted = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 2000;
  if (mastersWanted < 3) throw new Error('a Redis Cluster needs at least 3 masters');
  killAllOnExit();
  const dir = mkdtempSync(join(tmpdir(), 'hway-rc-'));
  const nodes: NodeProc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(killNode));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const total = mastersWanted * (1 + replicas);
    nodes.push(...(await Promise.all(Array.from({ length: total }, () => startNode(dir, nodeTimeoutMs)))));
    const create = await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create failed (${create.code}):\n${create.out.slice(-3000)}`);
    await pollUntil(() => healthy(nodes, mastersWanted, replicas), `the cluster on ports ${nodes.map((n) => n.port).join(',')} to be ok, every slot assigned and every replica linked`, { intervalMs: 100 });
  } catch (e) {
    await stop();
    throw e;
  }

  const byPort = new Map(nodes.map((n) => [n.port, n]));
  // The replicas each killed master had when it was killed (node ids): one of them must take over.
  const replicasOf = new Map<number, Set<string>>();
  const running = (): NodeProc[] => nodes.filter((n) => live.has(n));
  /** CLUSTER NODES as seen by the first running node that answers. */
  const view = async (): Promise<NodeLine[]> => {
    for (const n of running()) {
      const v = await tryAsk(n.port, 'CLUSTER', 'NODES');
      if (v !== null) return parseNodes(v);
    }
    throw new Error('no node of the cluster answers');
  };
  const seeds = nodes.map((n) => ({ host: HOST, port: n.port }));
  return {
    seeds,
    ports: nodes.map((n) => n.port),
    seedList: seeds.map((s) => `${s.host}:${s.port}`).join(','),
    dir,
    async masters() {
      const lines = await view();
      return lines
        .filter((l) => l.flags.includes('master') && !isFailed(l) && l.slots > 0)
        .map((l) => l.port)
        .sort((a, b) => a - b);
    },
    pids() {
      return new Map(running().flatMap((n) => (n.pid ? [[n.port, n.pid] as const] : [])));
    },
    async killMaster(port: number) {
      const n = byPort.get(port);
      if (!n || !live.has(n)) throw new Error(`no running node of this cluster on port ${port}`);
      const lines = parseNodes(await ask(port, 'CLUSTER', 'NODES'));
      const me = lines.find((l) => l.flags.includes('myself'));
      if (!me?.flags.includes('master')) throw new Error(`node ${port} is not a master (${me?.flags.join(',')})`);
      replicasOf.set(port, new Set(lines.filter((l) => l.masterId === me.id && !isFailed(l)).map((l) => l.id)));
      // Only the server: its sh then exits; the watcher (same process group) goes at stop().
      try {
        process.kill(n.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await n.exited;
      live.delete(n);
    },
    async waitForFailover(deadPort: number) {
      const dead = byPort.get(deadPort);
      const replicas = replicasOf.get(deadPort);
      if (!dead?.id || !replicas) throw new Error(`node ${deadPort} was not killed with killMaster`);
      if (replicas.size === 0) throw new Error(`node ${deadPort} had no replica to fail over to`);
      await pollUntil(
        async () => {
          for (const n of running()) {
            const info = await tryAsk(n.port, 'CLUSTER', 'INFO');
            if (info === null || field(info, 'cluster_state') !== 'ok' || Number(field(info, 'cluster_slots_ok')) !== SLOTS) return false;
            const v = await tryAsk(n.port, 'CLUSTER', 'NODES');
            if (v === null) return false;
            const lines = parseNodes(v);
            // The dead node is marked failed and holds no slots; one of its replicas is a master with slots.
            const d = lines.find((l) => l.id === dead.id);
            if (d && (!isFailed(d) || d.slots > 0)) return false;
            if (!lines.some((l) => replicas.has(l.id) && l.flags.includes('master') && !isFailed(l) && l.slots > 0)) return false;
          }
          return true;
        },
        `a replica of ${deadPort} to take over its slots`,
        { intervalMs: 100 },
      );
    },
    stop,
  };
}
