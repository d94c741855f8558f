// The node's Prometheus metrics, on a registry of its own (several nodes may share a process).
//
// Most values already exist as counters in the node's parts (ingress, enclave pool, vault supervisor,
// gateway, leases): they are read once per scrape (`render`) and copied into prom-client metrics, rather
// than threading a hook through every component. Only what needs per-task timing is pushed as it
// happens: `observeTask`, called by the ingress executor for every attempt that ends.
//
// Conventions: the `hway_` prefix; counters end in `_total`; durations are `_seconds` histograms; labels
// are bounded (task type, outcome code, priority, a lease failure reason). No vault id, account, address
// or token ever becomes a label: cardinality stays fixed and nothing identifying leaves the node. Task
// types without a registered handler are one label value, "unregistered" (a producer may write any string).
// Process metrics are prom-client's defaults under their usual names (process_*, nodejs_*), so that
// existing dashboards work.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TaskObservation } from '../ingress/executor.js';
import { assess, type Readiness } from './health.js';
import { DEFAULT_READY_PING_MS, DEFAULT_SCRAPE_READ_MS } from './options.js';
import { within } from '../within.js';
import { ping, readGateway, readQueues, type GatewayReading, type Ping, type QueueReading } from '../inspect/node-reads.js';
import type { IngressView, NodeView } from './view.js';
import type { PoolStats } from '../../enclaves/pool.js';
import type { GatewayStats } from '../gateway/gateway.js';
import type { SupervisorStats } from '../vault/vault-supervisor.js';

const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const RUN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const PING_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5];

/** What one scrape saw; a part is undefined when it is not running or could not be read in time. */
interface Snapshot {
  ingress: IngressView | undefined;
  enclave: PoolStats | undefined;
  vaults: SupervisorStats | undefined;
  gateway: GatewayStats | undefined;
  queues: QueueReading | undefined;
  conns: GatewayReading | undefined;
  reconnects: number;
  redis: Ping;
  ready: Readiness;
}

type Read = (s: Snapshot) => number | undefined;
type ReadLabelled = (s: Snapshot) => Record<string, number> | undefined;

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly tasks: Counter<'type' | 'outcome'>;
  private readonly wait: Histogram<'type'>;
  private readonly run: Histogram<'type'>;
  private readonly pings: Histogram;
  /** Copy a scrape's snapshot into the mirrored metrics. */
  private readonly mirrors: Array<(s: Snapshot) => void> = [];

  private readonly readyPingMs: number;
  private readonly readMs: number;

  constructor(
    private readonly view: NodeView,
    bounds: { readyPingMs?: number; scrapeReadMs?: number } = {},
  ) {
    this.readyPingMs = bounds.readyPingMs ?? DEFAULT_READY_PING_MS;
    this.readMs = bounds.scrapeReadMs ?? DEFAULT_SCRAPE_READ_MS;
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'hway_node_info', help: 'Always 1; the label names this node.', labelNames: ['node'], registers: r }).set({ node: view.nodeId }, 1);
    this.gauge('hway_node_ready', 'Whether /readyz would answer 200 (1) or 503 (0) at this scrape.', (s) => (s.ready.ready ? 1 : 0));

    // Tasks: pushed by the executor as attempts end.
    this.tasks = new Counter({ name: 'hway_tasks_total', help: 'Task attempts that ended on this node, by task type and outcome ("ok" or the error code the producer got).', labelNames: ['type', 'outcome'], registers: r });
    this.wait = new Histogram({ name: 'hway_task_queue_wait_seconds', help: "From enqueue (Redis's clock) to the start of a task's first attempt on this node; a delayed task's delay is included.", labelNames: ['type'], buckets: WAIT_BUCKETS, registers: r });
    this.run = new Histogram({ name: 'hway_task_run_seconds', help: "Run time of a task attempt's handler (authentication included, outcome write excluded).", labelNames: ['type'], buckets: RUN_BUCKETS, registers: r });
    this.counter('hway_task_retries_total', 'Failed attempts scheduled for a retry.', (s) => s.ingress?.stats.retried);
    this.counter('hway_tasks_dead_lettered_total', 'Tasks archived as dead letters (failed permanently or out of retries).', (s) => s.ingress?.stats.archived);
    this.counter('hway_tasks_answered_from_store_total', 'Deliveries answered from the stored result instead of running again.', (s) => s.ingress?.stats.answeredFromStore);
    this.counter('hway_tasks_dropped_total', 'Stream entries dropped as unusable (no task id, or its record deleted).', (s) => s.ingress?.stats.dropped);
    this.gauge('hway_tasks_in_flight', 'Tasks running on this node now.', (s) => s.ingress?.stats.inFlight);

    // Queues of the partitions this node owns (summed over nodes: the cluster's).
    this.labelled(Gauge, 'hway_queue_depth', 'Entries in the streams of the partitions this node owns, waiting or running, by priority.', 'priority', (s) => s.queues?.depth);
    this.gauge('hway_queue_scheduled', 'Delayed tasks and retries waiting for their time, in the partitions this node owns.', (s) => s.queues?.scheduled);
    this.gauge('hway_dead_letters', 'Dead letters kept in the partitions this node owns.', (s) => s.queues?.dead);

    // Partitions and leases.
    this.gauge('hway_partitions_owned', 'Partitions this node holds a lease on and serves.', (s) => s.ingress?.leases.owned);
    this.gauge('hway_partitions_target', "This node's share of the partitions at the last lease round.", (s) => s.ingress?.leases.target);
    this.gauge('hway_partitions_handing_over', 'Partitions being drained before release, or taken and still claiming their pending entries.', (s) => (s.ingress ? s.ingress.leases.draining + s.ingress.leases.claiming : undefined));
    this.gauge('hway_cluster_nodes', 'Live nodes seen at the last lease round, this one included.', (s) => s.ingress?.leases.nodes);
    this.labelled(Counter, 'hway_lease_renew_failures_total', 'Partition leases whose renewal failed: refused (another node has it), error, or expired (not renewed in time, e.g. Redis away).', 'reason', (s) => s.ingress?.leases.renewFailures);

    // Enclave pool.
    this.counter('hway_enclave_calls_total', 'Calls submitted to the enclave pool.', (s) => s.enclave?.calls);
    this.counter('hway_enclave_timeouts_total', 'Enclave calls stopped after running past their timeout.', (s) => s.enclave?.timeouts);
    this.counter('hway_enclave_worker_restarts_total', 'Enclave worker threads replaced after a timeout or a crash.', (s) => s.enclave?.restarts);
    this.gauge('hway_enclave_instances', 'Enclave instances (one per active vault).', (s) => s.enclave?.instances);
    this.gauge('hway_enclave_queued_calls', 'Enclave calls queued or running.', (s) => s.enclave?.queued);

    // Vault actors.
    this.gauge('hway_vaults_active', 'Vault actors active on this node.', (s) => s.vaults?.active);
    this.counter('hway_vault_activations_total', 'Vault actors activated.', (s) => s.vaults?.activations);
    this.counter('hway_vault_passivations_total', 'Idle vault actors passivated.', (s) => s.vaults?.passivations);
    this.counter('hway_vault_crashes_total', 'Vault actors stopped by their supervisor after repeated enclave failures.', (s) => s.vaults?.crashes);

    // Signer gateway.
    this.gauge('hway_gateway_connections', 'Live wallet and proof-worker connections whose handshake this node answered.', (s) => s.conns?.connections);
    this.gauge('hway_gateway_routes', 'Routing entries of those connections: address spellings (a proven key is routed as eth and fil) and miners.', (s) => s.conns?.routes);
    this.counter('hway_gateway_requests_total', 'Authenticated producer requests this node handled.', (s) => s.gateway?.requests);
    this.counter('hway_gateway_signatures_total', 'Signatures returned to producers.', (s) => s.gateway?.signed);
    this.counter('hway_gateway_proofs_total', 'Proofs returned to producers.', (s) => s.gateway?.proofs);
    this.counter('hway_gateway_failovers_total', 'Requests sent on to another wallet after one failed.', (s) => s.gateway?.failovers);
    this.counter('hway_gateway_refusals_total', 'Refused: unauthenticated requests and hellos, unproven addresses, unsealed wallet answers.', (s) => s.gateway?.refused);
    this.counter('hway_gateway_handshakes_total', 'Wallet handshakes completed.', (s) => s.gateway?.handshakes);
    this.counter('hway_gateway_malformed_frames_total', 'Frames that did not parse.', (s) => s.gateway?.malformed);
    this.counter('hway_gateway_evictions_total', 'Connections evicted (missed heartbeats, disconnected).', (s) => s.gateway?.evicted);
    this.labelled(Counter, 'hway_gateway_responses_total', 'Producer requests answered, by outcome (ok or the error code; E_RATE_LIMITED is a rate-limit refusal).', 'outcome', (s) => s.gateway?.outcomes);
    this.gauge('hway_gateway_requests_in_flight', 'Requests waiting for a wallet now.', (s) => s.gateway?.inFlight);

    // Redis.
    this.gauge('hway_redis_up', "Whether Redis answered this scrape's PING.", (s) => (s.redis.ok ? 1 : 0));
    this.pings = new Histogram({ name: 'hway_redis_ping_seconds', help: "Round trip of a PING on the node's connection (one per scrape and per /readyz).", buckets: PING_BUCKETS, registers: r });
    this.counter('hway_redis_reconnects_total', "Times the node's Redis connection became ready again after losing Redis.", (s) => s.reconnects);
  }

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  /** The executor's observer (see the top of this file). */
  observeTask = (o: TaskObservation): void => {
    const type = o.registered ? o.type : 'unregistered';
    this.tasks.inc({ type, outcome: o.outcome });
    // Later attempts wait out their backoff too: only the first one measures the queue.
    if (o.attempt <= 1 && o.enqueuedAt > 0) this.wait.observe({ type }, Math.max(0, o.startedAt - o.enqueuedAt) / 1000);
    this.run.observe({ type }, Math.max(0, o.endedAt - o.startedAt) / 1000);
  };

  /** /readyz: a bounded PING, then the checks of health.ts. */
  async readiness(): Promise<Readiness> {
    return assess(this.view, await this.ping(this.readyPingMs), this.readyPingMs);
  }

  /** /metrics: one snapshot of the node, copied into the registry, in the Prometheus text format. */
  async render(): Promise<string> {
    const s = await this.snapshot();
    for (const m of this.mirrors) m(s);
    return this.registry.metrics();
  }

  private async ping(ms: number): Promise<Ping> {
    const p = await ping(this.view.redis, ms);
    if (p.ok) this.pings.observe(p.seconds);
    return p;
  }

  private async snapshot(): Promise<Snapshot> {
    const v = this.view;
    const ingress = v.ingress();
    const vaults = v.vaults();
    const [redis, vaultStats, queues, conns] = await Promise.all([
      this.ping(this.readMs),
      vaults === undefined ? undefined : within(vaults, this.readMs).catch(() => undefined),
      ingress === undefined ? undefined : readQueues(v.redis, v.prefix, ingress.owned, this.readMs).catch(() => undefined),
      v.gateway() === undefined ? undefined : readGateway(v.redis, v.prefix, v.nodeId, this.readMs).catch(() => undefined),
    ]);
    // Counters are read after the awaits, so that they are at least as new as the Redis reads.
    return { ingress: v.ingress(), enclave: v.enclave(), vaults: vaultStats, gateway: v.gateway(), queues, conns, reconnects: v.redisReconnects(), redis, ready: assess(v, redis, this.readMs) };
  }

  /** A counter that mirrors a monotonic count of the node's (undefined: keep the last value). */
  private counter(name: string, help: string, read: Read): void {
    const c = new Counter({ name, help, registers: [this.registry] });
    this.mirrors.push((s) => {
      const n = read(s);
      if (n === undefined) return;
      c.reset();
      c.inc(n);
    });
  }

  private gauge(name: string, help: string, read: Read): void {
    const g = new Gauge({ name, help, registers: [this.registry] });
    this.mirrors.push((s) => {
      const n = read(s);
      if (n !== undefined) g.set(n);
    });
  }

  /** A counter or gauge with one label, mirroring a record of label value → number. */
  private labelled(kind: typeof Counter | typeof Gauge, name: string, help: string, label: string, read: ReadLabelled): void {
    const m = new kind({ name, help, labelNames: [label], registers: [this.registry] });
    this.mirrors.push((s) => {
      const values = read(s);
      if (values === undefined) return;
      m.reset();
      for (const [k, n] of Object.entries(values)) m.inc({ [label]: k }, n);
    });
  }
}
