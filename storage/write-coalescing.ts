// Commands written to one Redis connection during one event-loop turn leave in one write.
//
// ioredis writes each command to the socket as it is sent, and a write to a loopback socket is a
// system call that also wakes Redis: on this 2-core machine the socket writes were the largest
// self-time frame of a node under load (bench:profile). Batching by hand (ioredis pipelines) groups
// only the calls one piece of code makes at once, and each Pipeline costs more to build than the
// command it carries (ioredis copies every defined script onto it). Instead the connection's socket
// is corked at its first write of a turn and uncorked once the turn's callbacks have run
// (setImmediate): everything the node wrote meanwhile (results, fetches, loads, enqueues of any
// partition) goes out as one writev. Order on the wire is unchanged (one socket, FIFO), so replies
// still match commands; the cost is at most one loop turn of latency, and no timer is held open.
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';

type Wrapped = Socket & { __hwayCoalesced?: boolean };

function wrap(s: Wrapped | undefined): void {
  if (s === undefined || s.__hwayCoalesced) return;
  s.__hwayCoalesced = true;
  const write = s.write;
  let corked = false;
  s.write = function coalescedWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (!corked && !s.destroyed) {
      corked = true;
      s.cork();
      setImmediate(() => {
        corked = false;
        s.uncork();
      });
    }
    return write.apply(s, args);
  } as Socket['write'];
}

/** Coalesce this connection's writes per event-loop turn, on its current socket and every later one. */
export function coalesceWrites(redis: Redis): void {
  const marker = redis as unknown as { __hwayCoalesced?: boolean };
  if (marker.__hwayCoalesced) return;
  marker.__hwayCoalesced = true;
  // ioredis opens a new socket on every (re)connect; 'connect' fires before the first command on it.
  redis.on('connect', () => wrap(redis.stream as Wrapped));
  wrap(redis.stream as Wrapped | undefined);
}
