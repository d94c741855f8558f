// The per-node stats record: figures that live only in a node's memory (tasks finished per type, the
// enclave pool's health), published to Redis so that `hway status` and the cluster page of any node
// can show every node's. One hash per cluster, field = node id, value = this record as JSON:
//
//   <prefix>:{stats}:nodes    hash nodeId → NodeStatsRecord (JSON)
//
// One key with its own hash tag: on a Redis Cluster it lives in one slot and is read with one HGETALL.
//
// Display-only. Redis is untrusted (see DESIGN.md): whoever can write it can forge or delete these
// records, which can only make the page and `hway status` show wrong numbers. Nothing reads them to
// decide anything (no auth, no routing, no lease), and they are parsed defensively (bounded sizes,
// numbers checked) and shown as text, never as markup. They hold counts and task type names only:
// never a vault id, an account, an address or anything secret.

export const STATS_VERSION = 1;

/** A record older than this (by its own `at`) is dropped: its node has been gone a while. */
export const STATS_RETAIN_MS = 10 * 60_000;

/** Task types shown per node at most; a producer may write any type string (unregistered ones are one bucket). */
export const MAX_TASK_TYPES = 64;
const MAX_TYPE_LEN = 100;
const MAX_RECORD_BYTES = 16_384;

export interface TaskCount {
  /** Attempts that ended ok. */
  done: number;
  /** Attempts that ended with an error (each attempt of a retried task counts). */
  failed: number;
}

export interface EnclaveHealth {
  /** The plugin is loaded, checked against its pinned hash, and the pool is open. */
  loaded: boolean;
  /** Enclave instances now (one per active vault). */
  instances: number;
  /** Calls submitted since the pool opened; those stopped after the timeout; worker threads replaced. */
  calls: number;
  timeouts: number;
  restarts: number;
}

export interface NodeStatsRecord {
  v: typeof STATS_VERSION;
  /** When it was written, by the node's clock (ms). */
  at: number;
  /** When the node started, by its clock (ms). */
  since: number;
  /** The node stopped gracefully (it left the membership on purpose). */
  left: boolean;
  /** Cumulative since `since`, by task type ("unregistered" for types without a handler). */
  tasks: Record<string, TaskCount>;
  enclave: EnclaveHealth;
}

/** The hash holding every node's record (see the top of this file). */
export function statsKey(prefix: string): string {
  return `${prefix}:{stats}:nodes`;
}

export function encodeRecord(r: NodeStatsRecord): string {
  return JSON.stringify(r);
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** A record read from Redis, or undefined when it is not one (malformed, too large, another version). */
export function parseRecord(raw: string): NodeStatsRecord | undefined {
  if (raw.length > MAX_RECORD_BYTES) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null || o.v !== STATS_VERSION) return undefined;
  const at = count(o.at);
  const since = count(o.since);
  const e = o.enclave as Record<string, unknown> | undefined;
  if (at === undefined || since === undefined || typeof e !== 'object' || e === null || typeof o.tasks !== 'object' || o.tasks === null) return undefined;
  const enclave: EnclaveHealth = { loaded: e.loaded === true, instances: count(e.instances) ?? 0, calls: count(e.calls) ?? 0, timeouts: count(e.timeouts) ?? 0, restarts: count(e.restarts) ?? 0 };
  const tasks: Record<string, TaskCount> = {};
  for (const [type, c] of Object.entries(o.tasks as Record<string, unknown>).slice(0, MAX_TASK_TYPES)) {
    const done = count((c as TaskCount | null)?.done);
    const failed = count((c as TaskCount | null)?.failed);
    if (type.length > MAX_TYPE_LEN || done === undefined || failed === undefined) continue;
    tasks[type] = { done, failed };
  }
  return { v: STATS_VERSION, at, since, left: o.left === true, tasks, enclave };
}

/** Counts task attempts by type and outcome, for the record; fed by the ingress executor's observer. */
export class TaskCounts {
  private readonly counts = new Map<string, TaskCount>();

  /** `registered`: a handler exists for the type; others share one bucket (a producer may write any string). */
  observe(o: { type: string; registered: boolean; outcome: string }): void {
    const type = o.registered ? o.type : 'unregistered';
    let c = this.counts.get(type);
    if (c === undefined) {
      if (this.counts.size >= MAX_TASK_TYPES || type.length > MAX_TYPE_LEN) return;
      c = { done: 0, failed: 0 };
      this.counts.set(type, c);
    }
    if (o.outcome === 'ok') c.done++;
    else c.failed++;
  }

  snapshot(): Record<string, TaskCount> {
    return Object.fromEntries([...this.counts].map(([t, c]) => [t, { ...c }]));
  }
}

