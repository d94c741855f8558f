// Tasks per second by type, from successive cluster views. Each node's stats record carries cumulative
// counts and the time it was written (by that node's clock): a node's rate is the difference between
// two of its records over the difference of their times, so clocks of different nodes never mix. A
// record seen again unchanged keeps the node's last rate (records come every second, reads at their
// own pace); a node whose records stop (dead, left) stops counting after a few missed ones. The
// cluster's rate of a type is the sum over nodes.
//
// Computed by the reader (the page's feed on the server, `hway status --watch` in the terminal), so
// that every viewer of one node's page sees the same figures, and the page script only shows them.
import type { ClusterView } from './cluster-view.js';
import type { NodeStatsRecord, TaskCount } from './stats-record.js';
import { STATS_EVERY_MS } from './stats-publisher.js';

/** Per type: attempts per second that ended ok (done) and with an error (failed). */
export type Throughput = Record<string, TaskCount>;

/** A node's last rate is dropped when its newest record is this old. */
const STALE_MS = 5 * STATS_EVERY_MS;

interface NodeRates {
  rec: NodeStatsRecord;
  rates: Throughput;
}

export class ThroughputTracker {
  private readonly nodes = new Map<string, NodeRates>();

  /** Feeds a view; resolves the cluster's rates as of it. */
  update(view: ClusterView): Throughput {
    const seen = new Set<string>();
    for (const n of view.nodes) {
      const rec = n.stats;
      if (rec === null) continue;
      seen.add(n.id);
      const prev = this.nodes.get(n.id);
      if (prev === undefined || rec.since !== prev.rec.since || rec.at < prev.rec.at) {
        // First sight, or the node restarted under the same id: no rate yet.
        this.nodes.set(n.id, { rec, rates: {} });
        continue;
      }
      if (rec.at === prev.rec.at) {
        if ((n.seenAgoMs ?? 0) > STALE_MS) prev.rates = {};
        continue;
      }
      const secs = (rec.at - prev.rec.at) / 1000;
      const rates: Throughput = {};
      for (const [type, c] of Object.entries(rec.tasks)) {
        const before = prev.rec.tasks[type] ?? { done: 0, failed: 0 };
        rates[type] = { done: Math.max(0, c.done - before.done) / secs, failed: Math.max(0, c.failed - before.failed) / secs };
      }
      this.nodes.set(n.id, { rec, rates });
    }
    for (const id of [...this.nodes.keys()]) if (!seen.has(id)) this.nodes.delete(id);
    const out: Throughput = {};
    for (const { rates } of this.nodes.values()) {
      for (const [type, r] of Object.entries(rates)) {
        const t = (out[type] ??= { done: 0, failed: 0 });
        t.done += r.done;
        t.failed += r.failed;
      }
    }
    return out;
  }
}
