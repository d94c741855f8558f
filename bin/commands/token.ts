// `hway token issue|revoke|list`: access credentials (an HS256 JWT plus its request key, printed once
// by `issue` and never stored; see actors/credential.ts). These are operator commands: they need
// the cluster's token secret (--secret-file F, env HWAY_TOKEN_SECRET, or the token.secret file that
// `hway start` created in --data-dir), never on the command line.
// A revocation is in force on every node within 1 s. Tokens themselves are printed only by `issue`.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readTokenSecretFile } from '../../storage/token-secret-file.js';
import { TokenService, isPerm, parseTtl, PERMS } from '../../actors/gateway/tokens.js';
import { checkRedis, clusterOptions, flagHelp, parseFlags, positionals, REDIS_FLAGS, table, UsageError, type Command, type Io } from '../cli.js';

const FLAGS = {
  ...REDIS_FLAGS,
  account: { type: 'string', arg: 'A', desc: 'issue: the account the token acts for' },
  perm: { type: 'string', arg: 'P', desc: 'issue: read < write < sign < admin' },
  ttl: { type: 'string', default: '24h', arg: 'D', desc: 'issue: lifetime (90s, 15m, 24h, 30d)' },
  'secret-file': { type: 'string', arg: 'F', desc: 'file holding the token secret (else env HWAY_TOKEN_SECRET, else <data-dir>/token.secret)' },
  'data-dir': { type: 'string', env: 'HWAY_DATA_DIR', default: './.hway', arg: 'DIR', desc: 'the node data directory whose token.secret hway start created' },
} as const;

const help = `hway token <operation> [flags]

operations:
  issue --account A --perm P [--ttl D]   a new credential: {"token","jti","account","perm","exp"}
                                         (text mode prints it alone, for $(…)). "token" is
                                         <jwt>.<request key>: keep it secret; it is shown once.
                                         The longest --ttl is the nodes' maximum token lifetime
                                         (env HWAY_TOKEN_MAX_TTL, default 30d).
  revoke <jti>                           {"jti","revoked":true,"known":bool}
  list                                   issued, unexpired tokens (never the tokens themselves):
                                         {"tokens":[{"jti","account","perm","exp","revoked"}]}

flags:
${flagHelp(FLAGS)}`;

export function secretOf(file: string | undefined, env: NodeJS.ProcessEnv, dataDir: string): string {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read --secret-file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  const s = env.HWAY_TOKEN_SECRET;
  if (s !== undefined && s !== '') return s;
  // The file `hway start` created on first start (the same checks as the node's: mode 0600, 32 bytes).
  const own = join(dataDir, 'token.secret');
  if (existsSync(own)) return readTokenSecretFile(own);
  throw new UsageError(`no token secret: set HWAY_TOKEN_SECRET, pass --secret-file F, or --data-dir of a node (no ${own})`);
}

export const command: Command = {
  name: 'token',
  summary: 'access tokens: issue, revoke, list',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    const [op, ...rest] = args;
    if (op === undefined) throw new UsageError('missing <operation>: issue, revoke or list');
    if (!['issue', 'revoke', 'list'].includes(op)) throw new UsageError(`unknown operation "${op}" (issue, revoke, list)`);
    const { redis, prefix } = clusterOptions(flags);
    const secret = secretOf(flags['secret-file'], io.env, resolve(flags['data-dir'] ?? './.hway'));
    let ttlSec = 0;
    if (op === 'issue') {
      positionals(rest, []);
      if (!flags.account) throw new UsageError('issue needs --account A');
      if (!isPerm(flags.perm)) throw new UsageError(`issue needs --perm ${PERMS.join('|')}`);
      try {
        ttlSec = parseTtl(flags.ttl ?? '24h');
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    await checkRedis(redis);
    const tokens = new TokenService({ redis, secret, prefix, subscribe: false });
    try {
      if (op === 'issue') {
        const t = await tokens.issue({ account: flags.account!, perm: flags.perm as 'read', ttlSec });
        io.out({ token: t.token, jti: t.jti, account: flags.account, perm: flags.perm, exp: t.exp }, t.token);
      } else if (op === 'revoke') {
        const [jti] = positionals(rest, ['jti']);
        const known = await tokens.revoke(jti!);
        io.out({ jti, revoked: true, known }, `revoked ${jti}${known ? '' : ' (not issued by this cluster; revoked anyway)'}`);
      } else {
        positionals(rest, []);
        const list = await tokens.list();
        io.out({ tokens: list }, list.length === 0 ? 'no tokens' : table([['jti', 'account', 'perm', 'expires', 'revoked'], ...list.map((t) => [t.jti, t.account, t.perm, new Date(t.exp * 1000).toISOString(), t.revoked ? 'yes' : 'no'])]));
      }
      return 0;
    } finally {
      await tokens.close();
    }
  },
};
