// Choice of the next priority to serve. Weighted mode is smooth weighted round-robin (as in nginx):
// over a long run the shares are exactly the weights and the picks are interleaved, not bursty.
// Strict mode always serves the highest priority that has work.
import { PRIORITIES, type Priority } from './keys.js';

export interface Weights {
  critical: number;
  default: number;
  low: number;
}

export const DEFAULT_WEIGHTS: Weights = { critical: 6, default: 3, low: 1 };

/** What the caller knows about one priority: tasks in hand, and whether Redis may hold more. */
export interface Lane {
  ready: boolean;
  maybeMore: boolean;
}

export class PriorityScheduler {
  private readonly w: number[];
  private readonly current = [0, 0, 0];

  constructor(weights: Weights = DEFAULT_WEIGHTS, private readonly strict = false) {
    this.w = PRIORITIES.map((p) => weights[p]);
    if (this.w.some((x) => !(x >= 0)) || this.w.every((x) => x === 0)) throw new RangeError('bad priority weights');
  }

  /**
   * Index of the priority to serve next, or -1 to wait. A priority that has nothing in hand but may
   * have more in Redis is waited for rather than skipped, so that a refill in flight does not
   * distort the shares (or, in strict mode, let a lower priority overtake).
   */
  pick(lanes: readonly Lane[]): number {
    if (this.strict) {
      for (let i = 0; i < lanes.length; i++) {
        if (lanes[i]!.ready) return i;
        if (lanes[i]!.maybeMore) return -1;
      }
      return -1;
    }
    let best = -1;
    let total = 0;
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!;
      if (!l.ready && !l.maybeMore) continue;
      if (this.w[i] === 0) continue;
      total += this.w[i]!;
      if (best < 0 || this.current[i]! + this.w[i]! > this.current[best]! + this.w[best]!) best = i;
    }
    if (best < 0) {
      // only zero-weight lanes left: serve them in order
      for (let i = 0; i < lanes.length; i++) if (lanes[i]!.ready) return i;
      return -1;
    }
    if (!lanes[best]!.ready) return -1;
    for (let i = 0; i < lanes.length; i++) {
      const l = lanes[i]!;
      if ((l.ready || l.maybeMore) && this.w[i]! > 0) this.current[i]! += this.w[i]!;
    }
    this.current[best]! -= total;
    return best;
  }
}

export function priorityIndex(p: Priority): number {
  return PRIORITIES.indexOf(p);
}
