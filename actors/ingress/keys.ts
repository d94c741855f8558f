// Key naming. Every key of partition p carries the hash tag {p}, so that all of a partition's keys live
// in one Redis Cluster slot and each Lua script touches one slot only.
export const PRIORITIES = ['critical', 'default', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The consumer group every node reads through (consumer name = node id). */
export const GROUP = 'hway';

export class Keys {
  constructor(readonly prefix: string = 'hway') {}

  /** "<prefix>:{p}:" — scripts build per-task keys of the partition from it. */
  part(p: number): string {
    return `${this.prefix}:{${p}}:`;
  }
  stream(p: number, prio: Priority): string {
    return `${this.part(p)}q:${prio}`;
  }
  streams(p: number): [string, string, string] {
    return [this.stream(p, 'critical'), this.stream(p, 'default'), this.stream(p, 'low')];
  }
  task(p: number, id: string): string {
    return `${this.part(p)}t:${id}`;
  }
  result(p: number, id: string): string {
    return `${this.part(p)}result:${id}`;
  }
  /** The effect ledger entry of a task: written atomically with the state change it caused. */
  effect(p: number, id: string): string {
    return `${this.part(p)}fx:${id}`;
  }
  scheduled(p: number): string {
    return `${this.part(p)}scheduled`;
  }
  dead(p: number): string {
    return `${this.part(p)}dead`;
  }
  idle(p: number): string {
    return `${this.part(p)}idle`;
  }
  lease(p: number): string {
    return `${this.part(p)}lease`;
  }
  epoch(p: number): string {
    return `${this.part(p)}epoch`;
  }
  nodes(): string {
    return `${this.prefix}:nodes`;
  }
  /** A sharded pub/sub channel in the partition's slot (SPUBLISH from its scripts, SSUBSCRIBE by its owner). */
  wakeChannel(p: number): string {
    return `${this.part(p)}wake`;
  }
  replyChannel(clientId: string): string {
    return `${this.prefix}:reply:${clientId}`;
  }
}
