// The partitions this node serves, and what it believes about their lanes.
// Invariant: openLanes(i) is the number of claiming or active partitions whose lane i is not
// believed exhausted; only this class changes a partition's status or exhausted flags, so the count
// can't drift.

export type PartStatus = 'claiming' | 'active' | 'draining' | 'gone';

export interface Part {
  readonly p: number;
  readonly epoch: number;
  readonly status: PartStatus;
  /** Per lane: the last fetch came back short, so Redis probably has nothing more. */
  readonly exhausted: readonly [boolean, boolean, boolean];
  /** Tasks of this partition running here. */
  inflight: number;
  /** A fetch round is reading this partition. */
  reading: boolean;
  /** Bumped by every wake-up; a fetch sent before a wake-up must not mark the partition exhausted. */
  wakeSeq: number;
  /** Resolved when inflight reaches 0 while draining. */
  drained: Array<() => void>;
}

interface MutablePart extends Part {
  status: PartStatus;
  exhausted: [boolean, boolean, boolean];
}

/** Claiming or active: the partition's entries are being read and run. */
export function serving(part: Part): boolean {
  return part.status === 'active' || part.status === 'claiming';
}

export class PartitionTable {
  private readonly parts = new Map<number, MutablePart>();
  private readonly open = [0, 0, 0];

  get(p: number): Part | undefined {
    return this.parts.get(p);
  }

  all(): IterableIterator<Part> {
    return this.parts.values();
  }

  openLanes(i: number): number {
    return this.open[i]!;
  }

  /** A newly acquired partition: claiming, every lane open. */
  add(p: number, epoch: number): Part {
    const part: MutablePart = { p, epoch, status: 'claiming', exhausted: [false, false, false], inflight: 0, reading: false, wakeSeq: 0, drained: [] };
    this.parts.set(p, part);
    for (let i = 0; i < 3; i++) this.open[i]!++;
    return part;
  }

  /** The claim of its pending entries is done: the partition is read normally from now on. */
  activate(part: Part): void {
    if (part.status === 'claiming') (part as MutablePart).status = 'active';
  }

  /** After a reconnect: claim the partition's pending entries again (lanes stay as they are). */
  reclaim(part: Part): void {
    if (part.status === 'active') (part as MutablePart).status = 'claiming';
  }

  setExhausted(part: Part, i: number, v: boolean): void {
    const m = part as MutablePart;
    if (m.exhausted[i] === v) return;
    m.exhausted[i] = v;
    if (serving(m)) this.open[i]! += v ? -1 : 1;
  }

  /** New work may have arrived: every lane is open again. */
  reopen(part: Part): void {
    (part as MutablePart).wakeSeq++;
    for (let i = 0; i < 3; i++) this.setExhausted(part, i, false);
  }

  /** Stop reading the partition; it stays in the table until its running tasks finish. */
  drain(part: Part): void {
    this.leave(part as MutablePart, 'draining');
  }

  /** Forget the partition; false if it was not (or no longer) this entry of the table. */
  remove(part: Part): boolean {
    this.leave(part as MutablePart, 'gone');
    if (this.parts.get(part.p) !== part) return false;
    this.parts.delete(part.p);
    return true;
  }

  private leave(m: MutablePart, to: 'draining' | 'gone'): void {
    if (serving(m)) for (let i = 0; i < 3; i++) if (!m.exhausted[i]) this.open[i]!--;
    if (m.status !== 'gone') m.status = to;
  }
}
