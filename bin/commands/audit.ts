// `hway audit [--account A] [--since T] [--verify] [--json]`: lists the audit log (one stream per
// account, actors/audit/) and, with --verify, checks each account's chain: every entry's hash, its
// MAC under the audit key of the token secret (so it needs the secret, as `hway token` does; older
// secrets in HWAY_TOKEN_SECRET_PREVIOUS), and every link. A broken chain prints its first broken link
// and exits 1 with E_AUDIT_BROKEN.
import { resolve } from 'node:path';
import { verifyChain, type AuditEntry, type Broken, type StoredEntry } from '../../actors/audit/entry.js';
import { TokenService, parseTtl } from '../../actors/gateway/tokens.js';
import { HwayError } from '../../errors.js';
import { connect } from '../../storage/redis.js';
import { AuditStore } from '../../storage/audit-store.js';
import { checkRedis, clusterOptions, flagHelp, parseFlags, positionals, REDIS_FLAGS, table, UsageError, type Command, type Io } from '../cli.js';
import { secretOf } from './token.js';

const FLAGS = {
  ...REDIS_FLAGS,
  account: { type: 'string', arg: 'A', desc: 'only this account (default: every account with a log)' },
  since: { type: 'string', arg: 'T', desc: 'entries from this time on: an ISO date, or a duration back from now (24h, 7d)' },
  verify: { type: 'boolean', desc: 'check hashes, MACs and links; exit 1 (E_AUDIT_BROKEN) at the first broken link' },
  'secret-file': { type: 'string', arg: 'F', desc: 'file holding the token secret (else env HWAY_TOKEN_SECRET, else <data-dir>/token.secret)' },
  'data-dir': { type: 'string', env: 'HWAY_DATA_DIR', default: './.hway', arg: 'DIR', desc: 'the node data directory whose token.secret hway start created' },
} as const;

const help = `hway audit [flags]

Lists the audit log: one entry per vault operation and gateway sign (time, node, account, token id,
operation, vault or address, digest, outcome, task), and with --verify checks that no entry was
deleted, edited or reordered.
  --json: {"accounts":[{"account","entries":[…],"verified":bool|null,"broken":{…}|null}]}

flags:
${flagHelp(FLAGS)}`;

function sinceMs(s: string | undefined): number {
  if (s === undefined) return 0;
  if (/^\d+[smhd]?$/.test(s.trim())) {
    try {
      return Date.now() - parseTtl(s) * 1000;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`--since: "${s}" is neither a date nor a duration`);
  return t;
}

interface AccountReport {
  account: string;
  entries: Array<AuditEntry & { id: string }>;
  verified: boolean | null;
  broken: Broken | null;
}

export const command: Command = {
  name: 'audit',
  summary: 'the audit log: list and verify',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const since = sinceMs(flags.since);
    const { redis, prefix } = clusterOptions(flags);
    const secret = flags.verify ? secretOf(flags['secret-file'], io.env, resolve(flags['data-dir'] ?? './.hway')) : undefined;
    await checkRedis(redis);
    const conn = connect(redis, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    const tokens = secret === undefined ? undefined : new TokenService({ redis, secret, prefix, subscribe: false });
    try {
      const store = new AuditStore(conn, prefix);
      const accounts = flags.account !== undefined ? [flags.account] : await store.accounts();
      const reports: AccountReport[] = [];
      const keys = tokens?.auditKeys().all;
      for (const account of accounts) {
        const stored: StoredEntry[] = await store.read(account, since);
        // Verification needs the entry before `since` as the anchor; it reads the whole stream.
        const broken = keys === undefined ? null : verifyChain(since > 0 ? await store.read(account) : stored, keys);
        const entries = stored.map((s) => ({ id: s.id, ...(safeParse(s.e) as AuditEntry) }));
        reports.push({ account, entries, verified: keys === undefined ? null : broken === null, broken });
      }
      const rows = reports.flatMap((r) => r.entries.map((e) => [new Date(e.ts).toISOString(), e.account, e.op, e.target, e.outcome, e.jti, e.node, e.task]));
      const lines = [rows.length === 0 ? 'no audit entries' : table([['time', 'account', 'op', 'vault/address', 'outcome', 'token', 'node', 'task'], ...rows])];
      for (const r of reports) {
        if (r.verified === true) lines.push(`${r.account}: chain verified (${r.entries.length} entries listed)`);
        if (r.broken !== null) lines.push(`${r.account}: BROKEN at entry ${r.broken.index + 1} (stream id ${r.broken.id}): ${r.broken.reason}: ${r.broken.message}`);
      }
      io.out({ accounts: reports }, lines.join('\n'));
      const bad = reports.find((r) => r.broken !== null);
      if (bad) throw new HwayError('E_AUDIT_BROKEN', `the audit chain of ${bad.account} is broken at stream id ${bad.broken!.id} (${bad.broken!.reason})`, { permanent: true });
      return 0;
    } finally {
      await tokens?.close();
      conn.disconnect();
    }
  },
};

function safeParse(e: string): unknown {
  try {
    return JSON.parse(e);
  } catch {
    return { malformed: e };
  }
}
