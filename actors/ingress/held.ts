// The tasks this node holds: read from Redis and not yet finished.
// Invariant: an entry is held at most once (by partition, lane and entry id), from the moment it is
// accepted until its run ends or its partition is given up; the lane buffers hold the ones not yet
// picked, in stream order.
import type { LoadedTask } from '../../storage/queue-store.js';
import type { Part } from './partitions.js';

export interface Entry extends LoadedTask {
  part: Part;
  /** The ordering key (the task id when the task has none). */
  key: string;
  /** The handler's deadline: the task's own, or the node's default. */
  timeoutMs: number;
}

/** Entry ids are unique per stream only: the three streams of a partition share an id space. */
export function heldKey(part: Part, lane: number, entryId: string): string {
  return `${part.p}/${lane}/${entryId}`;
}

export class HeldTasks {
  private readonly held = new Map<string, Entry>();
  /** Per lane, the read-ahead: accepted entries the dispatcher has not picked yet. */
  readonly buffers: [Entry[], Entry[], Entry[]] = [[], [], []];

  get size(): number {
    return this.held.size;
  }

  has(part: Part, lane: number, entryId: string): boolean {
    return this.held.has(heldKey(part, lane, entryId));
  }

  /** Hold an entry and buffer it in its lane; false if it is already held (e.g. claimed again). */
  accept(e: Entry): boolean {
    const k = heldKey(e.part, e.lane, e.entryId);
    if (this.held.has(k)) return false;
    this.held.set(k, e);
    this.buffers[e.lane]!.push(e);
    return true;
  }

  /** The entry's run is over (outcome stored, or left pending for a later delivery). */
  release(e: Entry): void {
    this.held.delete(heldKey(e.part, e.lane, e.entryId));
  }

  /** Held beyond the buffers: waiting on their key, or running. */
  beyondBuffers(): number {
    return this.held.size - this.buffers[0].length - this.buffers[1].length - this.buffers[2].length;
  }

  /** Per lane, how many entries the buffer lacks to reach `target`. */
  needs(target: number): [number, number, number] {
    return [0, 1, 2].map((i) => Math.max(0, target - this.buffers[i]!.length)) as [number, number, number];
  }

  /** Forget the entries of `part` that are not running: they stay pending in Redis for its next owner. */
  purge(part: Part, running: (e: Entry) => boolean): void {
    for (let i = 0; i < 3; i++) {
      const buf = this.buffers[i]!;
      if (buf.some((e) => e.part === part)) this.buffers[i] = buf.filter((e) => e.part !== part);
    }
    for (const [k, e] of this.held) if (e.part === part && !running(e)) this.held.delete(k);
  }
}
