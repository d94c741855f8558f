// The cluster page's feed: one reader per endpoint, whatever the number of viewers. While anyone
// watches, it reads the cluster view (actors/inspect/) every second, computes tasks per second from
// successive views (on the server: every viewer sees the same rates, the page script only shows
// them), and hands each result to the subscribers, which write it to their event streams. With no
// viewer it reads nothing. A read that fails (Redis away, too slow) is passed on as a problem, and the
// next tick tries again.
import { codeOf, type ErrorCode } from '../../../errors.js';
import type { ClusterView } from '../../inspect/cluster-view.js';
import { ThroughputTracker, type Throughput } from '../../inspect/throughput.js';

export const FEED_EVERY_MS = 1000;

export interface FeedView {
  /** The node serving the page (the view itself is the whole cluster's). */
  servedBy: string;
  view: ClusterView;
  /** Tasks per second by type, summed over live nodes. */
  throughput: Throughput;
}

export type FeedEvent = { event: 'view'; data: FeedView } | { event: 'problem'; data: { code: ErrorCode; message: string } };

export type Subscriber = (e: FeedEvent) => void;

export class LiveFeed {
  private readonly subs = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private tracker = new ThroughputTracker();
  private last: FeedEvent | undefined;
  private reading = false;

  constructor(
    private readonly read: () => Promise<ClusterView>,
    private readonly servedBy: string,
    private readonly everyMs = FEED_EVERY_MS,
  ) {}

  /** Adds a subscriber (it gets the latest event at once, if any); returns its unsubscribe. */
  subscribe(fn: Subscriber): () => void {
    this.subs.add(fn);
    if (this.last !== undefined) fn(this.last);
    if (this.timer === undefined) {
      // Rates restart with the watching: a gap without viewers is not averaged in.
      this.tracker = new ThroughputTracker();
      this.timer = setInterval(() => void this.tick(), this.everyMs);
      this.timer.unref(); // open streams keep the process up, not the feed
      void this.tick();
    }
    return () => {
      this.subs.delete(fn);
      if (this.subs.size === 0) this.stop();
    };
  }

  close(): void {
    this.subs.clear();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.last = undefined;
  }

  private async tick(): Promise<void> {
    if (this.reading) return; // a slow read: skip the tick rather than pile reads up
    this.reading = true;
    let e: FeedEvent;
    try {
      const view = await this.read();
      e = { event: 'view', data: { servedBy: this.servedBy, view, throughput: this.tracker.update(view) } };
    } catch (err) {
      e = { event: 'problem', data: { code: codeOf(err), message: `the cluster could not be read: ${err instanceof Error ? err.message : String(err)}` } };
    } finally {
      this.reading = false;
    }
    if (this.timer === undefined) return; // nobody watches any more
    this.last = e;
    for (const fn of [...this.subs]) fn(e);
  }
}
