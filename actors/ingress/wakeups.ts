// Listens to the wake-up channels of the served partitions: sharded pub/sub channels in each
// partition's slot (SPUBLISH by the enqueue scripts), so that on a Redis Cluster a wake-up travels
// only within its shard. Invariant: a partition's channel is subscribed before its first fetch (a
// fetch that finds it empty arms the idle flag, and the wake-up that flag triggers must find us
// listening), and unsubscribed when it is given up.
import type { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import type { Keys } from './keys.js';

export type WakeKind = 'queued' | 'scheduled';

export class Wakeups {
  private readonly channels = new Map<string, number>();
  /** One wait for the connection shared by every partition subscribing meanwhile (not a listener each). */
  private ready: Promise<void> | undefined;

  constructor(
    private readonly sub: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    onWake: (p: number, kind: WakeKind) => void,
  ) {
    sub.on('smessage', (channel: string, msg: string) => {
      const p = this.channels.get(channel);
      if (p !== undefined) onWake(p, msg === 's' ? 'scheduled' : 'queued');
    });
  }

  /** Subscribe to p's channel once the connection is ready (no deadline: it reconnects forever). */
  async listen(p: number): Promise<void> {
    const ch = this.keys.wakeChannel(p);
    this.channels.set(ch, p);
    try {
      if (this.sub.status !== 'ready') {
        this.ready ??= new Promise<void>((resolve) =>
          this.sub.once('ready', () => {
            this.ready = undefined;
            resolve();
          }),
        );
        await this.ready;
      }
      await this.sub.ssubscribe(ch);
    } catch (e) {
      this.log.warn('subscribe failed', { partition: p, error: String(e) });
    }
  }

  forget(p: number): void {
    const ch = this.keys.wakeChannel(p);
    this.channels.delete(ch);
    if (this.sub.status !== 'end') void this.sub.sunsubscribe(ch).catch(() => {});
  }
}
