// `hway dlq …`: the dead letters (archived tasks) of a cluster, on top of the ingress's library
// functions. `inspect` shows a task's payload with secret-looking fields masked: a failed export or
// import carries the export password, which must not reach a terminal or a log.
import { HwayError } from '../../errors.js';
import { deleteDeadLetter, inspectDeadLetter, listDeadLetters, requeueDeadLetter, type DeadLetter } from '../../actors/ingress/index.js';
import { clusterOptions, connectRedis, flagHelp, parseFlags, positionals, REDIS_FLAGS, table, UsageError, type Command, type Io } from '../cli.js';

const FLAGS = {
  ...REDIS_FLAGS,
  limit: { type: 'number', default: 100, desc: 'list at most N dead letters, oldest first' },
} as const;

const help = `hway dlq <operation> [flags]

operations:
  list [--limit N]      dead letters, oldest first: {"deadLetters":[{"id","partition","type","key","priority",
                        "attempts","error":{"code","message"},"enqueuedAt","archivedAt"}],"count"}
  inspect <taskId>      one dead letter with its payload (password/token fields masked)
  requeue <taskId>      put it back as a fresh task (attempt 1): {"id","requeued":true}
  delete <taskId>       remove it with its record and stored error: {"id","deleted":true}

A task id that is not a dead letter is E_NOT_FOUND (exit 1).

flags:
${flagHelp(FLAGS)}`;

/** Field names that may hold a secret (a task's ordering `key` and a `publicKey` are not secrets). */
const SECRET_RE = /pass|secret|token|private|priv_?key|mnemonic|seed|sealed|^sk$/i;

/** The payload with every secret-looking field replaced, at any depth. */
export function maskSecrets(v: unknown, depth = 0): unknown {
  if (depth > 20) return '[…]';
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x, depth + 1));
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_RE.test(k) ? '[masked]' : maskSecrets(x, depth + 1)]));
  }
  return v;
}

function row(d: DeadLetter): string[] {
  return [d.id, d.type, d.key, String(d.attempts), d.error ? `${d.error.code}: ${d.error.message}` : '-', new Date(d.archivedAt).toISOString()];
}

export const command: Command = {
  name: 'dlq',
  summary: 'list, inspect, requeue or delete dead letters',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const [op, ...rest] = argv;
    const OPS = ['list', 'inspect', 'requeue', 'delete'];
    if (op === undefined) throw new UsageError(`missing operation: one of ${OPS.join(', ')}`);
    if (!OPS.includes(op)) throw new UsageError(`unknown dlq operation "${op}": one of ${OPS.join(', ')}`);
    const { flags, args } = parseFlags(rest, op === 'list' ? FLAGS : REDIS_FLAGS, io.env);
    const [id] = positionals(args, op === 'list' ? [] : ['taskId']);
    const { redis, prefix, partitions } = clusterOptions(flags);
    const r = await connectRedis(redis);
    const o = { redis: r, prefix, partitions };
    const notFound = (): HwayError => new HwayError('E_NOT_FOUND', `${id} is not a dead letter under prefix "${prefix}"`, { permanent: true });
    try {
      if (op === 'list') {
        const limit = (flags as { limit?: number }).limit ?? 100;
        if (limit < 1) throw new UsageError('--limit must be at least 1');
        const list = await listDeadLetters(o, limit);
        io.out(
          { deadLetters: list, count: list.length },
          list.length === 0 ? 'no dead letters' : table([['id', 'type', 'key', 'attempts', 'error', 'archived'], ...list.map(row)]),
        );
      } else if (op === 'inspect') {
        const d = await inspectDeadLetter(o, id!);
        if (d === null) throw notFound();
        const shown = { ...d, payload: maskSecrets(d.payload) };
        io.out(shown, `${table([['id', 'type', 'key', 'attempts', 'error', 'archived'], row(d)])}\npayload: ${JSON.stringify(shown.payload)}`);
      } else if (op === 'requeue') {
        if (!(await requeueDeadLetter(o, id!))) throw notFound();
        io.out({ id, requeued: true }, `requeued ${id}`);
      } else {
        if (!(await deleteDeadLetter(o, id!))) throw notFound();
        io.out({ id, deleted: true }, `deleted ${id}`);
      }
      return 0;
    } finally {
      r.disconnect();
    }
  },
};
