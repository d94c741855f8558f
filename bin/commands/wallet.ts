// `hway wallet has|sign|list`: the signer gateway as a producer. Asks any gateway node by address; the
// node checks the token (--token / HWAY_TOKEN when auth is on), the account's rate limits and routes
// to a wallet (or vault) of the token's account.
import { GatewayClient } from '../../actors/gateway/producer.js';
import { checkRedis, CLIENT_FLAGS, clusterOptions, flagHelp, parseFlags, positionals, table, UsageError, type Command, type Io } from '../cli.js';

const FLAGS = {
  ...CLIENT_FLAGS,
  type: { type: 'string', default: 'raw', arg: 'T', desc: 'sign: how the signer hashes the bytes (raw = a 32-byte digest, sha256, keccak256, or a wallet-defined type)' },
} as const;

const help = `hway wallet <operation> [flags]

operations:
  has <address>               whether a wallet or vault of your account serves the address: {"has":bool}
  sign <address> <hex>        sign the bytes by address: {"signature","recovery","via"}
                              (64-byte r‖s hex, low-S, recovery id 0–3; via = wallet connection or vault)
  list                        wallet connections of your account: {"wallets":[{"id","addresses","since"}]}

An address is eth (0x…, any case) or Filecoin (f1…/t1…); both spellings of one key reach the same
signer. Refusals: E_UNAUTHORIZED (token missing/invalid/revoked), E_FORBIDDEN (permission),
E_RATE_LIMITED, E_NO_WALLET, E_WALLET_BUSY, E_TIMEOUT.

flags:
${flagHelp(FLAGS)}`;

export const command: Command = {
  name: 'wallet',
  summary: 'the signer gateway as a producer: has, sign, list wallets',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    const [op, ...rest] = args;
    if (op === undefined) throw new UsageError('missing <operation>: has, sign or list');
    const { redis, prefix } = clusterOptions(flags);
    const run = async <T>(f: (c: GatewayClient) => Promise<T>): Promise<T> => {
      await checkRedis(redis);
      const c = new GatewayClient({ redis, prefix, timeoutMs: flags.timeout ?? 30_000, ...(flags.token ? { token: flags.token } : {}) });
      try {
        return await f(c);
      } finally {
        await c.close();
      }
    };
    switch (op) {
      case 'has': {
        const [address] = positionals(rest, ['address']);
        const has = await run((c) => c.walletHas(address!));
        io.out({ has }, has ? 'yes' : 'no');
        return 0;
      }
      case 'sign': {
        const [address, hex] = positionals(rest, ['address', 'hex']);
        const clean = hex!.replace(/^0x/, '');
        if (!/^(?:[0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError('<hex> must be an even number of hex digits');
        const r = await run((c) => c.walletSign(address!, Buffer.from(clean, 'hex'), { type: flags.type ?? 'raw' }));
        io.out({ signature: r.signature, recovery: r.recovery, via: r.via }, `signature ${r.signature}\nrecovery  ${r.recovery}\nvia       ${r.via}`);
        return 0;
      }
      case 'list': {
        positionals(rest, []);
        const wallets = await run((c) => c.listWallets());
        io.out({ wallets }, wallets.length === 0 ? 'no wallets connected' : table([['connection', 'addresses', 'since'], ...wallets.map((w) => [w.id, w.addresses.join(' '), new Date(w.since).toISOString()])]));
        return 0;
      }
      default:
        throw new UsageError(`unknown operation "${op}" (has, sign, list)`);
    }
  },
};

