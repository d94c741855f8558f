// Public API of the Redis mailbox ingress.
export { createIngress, type Ingress, type IngressOptions, type IngressStats } from './consumer.js';
export { IngressClient, type IngressClientOptions, type EnqueueItem } from './client.js';
export {
  listDeadLetters,
  countDeadLetters,
  inspectDeadLetter,
  requeueDeadLetter,
  deleteDeadLetter,
  type DeadLetter,
  type DeadLetterDetail,
  type DeadLetterOptions,
  type Where,
} from './deadletters.js';
export { Keys, PRIORITIES, GROUP, type Priority } from './keys.js';
export { partitionOf, fnv1a, DEFAULT_PARTITIONS } from './partition.js';
export { backoffMs, DEFAULT_RETRY, DEFAULT_MAX_RETRIES, type RetryPolicy } from './retry.js';
export { DEFAULT_WEIGHTS, type Weights } from './scheduler.js';
export { targetFor } from './leases.js';
export type { Task, Handler, TaskOutcome, TaskState, EnqueueOptions, CallOptions, Json } from './task.js';
export type { RedisSource } from '../../storage/redis.js';
export type { ClusterConfig, ClusterSeed } from '../../storage/redis.js';
export type { Durability } from '../../storage/scripts.js';
