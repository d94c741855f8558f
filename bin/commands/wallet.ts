// `hway wallet has|sign|list`: the signer gateway as a producer. Asks any gateway node by address; the
// node checks the token (--token / HWAY_TOKEN when auth is on), the account's rate limits and routes
// to a wallet (or vault) of the token's account.
// `hway wallet run --key-file F`: the other side, a wallet process serving the keys in F through the
// gateway (WalletConnector + localKeyWallet) until SIGINT/SIGTERM.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addressesOf, type FilNetwork } from '../../enclaves/addresses.js';
import { logger as makeLogger } from '../../log.js';
import { readWalletKeyFile } from '../../storage/wallet-key-file.js';
import type { Welcome } from '../../actors/gateway/connection.js';
import { localKeyWallet, WalletConnector } from '../../actors/gateway/connector.js';
import type { GatewayClient } from '../../actors/gateway/producer.js';
import { gatewayCall } from '../gateway-call.js';
import { checkRedis, CLIENT_FLAGS, clusterOptions, flagHelp, parseFlags, positionals, table, UsageError, type Command, type Io, type RedisTarget } from '../cli.js';

const FLAGS = {
  ...CLIENT_FLAGS,
  type: { type: 'string', default: 'raw', arg: 'T', desc: 'sign: how the signer hashes the bytes (raw = a 32-byte digest, sha256, keccak256, or a wallet-defined type)' },
  'key-file': { type: 'string', env: 'HWAY_WALLET_KEY_FILE', arg: 'F', desc: 'run: the private keys to serve, one 64-hex-digit secp256k1 key per line (# comments); mode 0600' },
  filnet: { type: 'string', env: 'HWAY_FILNET', default: 'f', arg: 'f|t', desc: 'run: Filecoin network of the addresses (f mainnet, t test networks)' },
  form: { type: 'string', default: 'eth', arg: 'eth|fil|both', desc: 'run: which spelling of each address to announce (either reaches the key)' },
} as const;

const help = `hway wallet <operation> [flags]

operations:
  has <address>               whether a wallet or vault of your account serves the address: {"has":bool}
  sign <address> <hex>        sign the bytes by address: {"signature","recovery","via"}
                              (64-byte r‖s hex, low-S, recovery id 0–3; via = wallet connection or vault)
  list                        wallet connections of your account: {"wallets":[{"id","addresses","since"}]}
  run --key-file F            run a wallet process: serve the keys in F through the gateway until
                              SIGINT/SIGTERM (exit 0). The token (permission "sign") names the account.
                              With --json one line per event: {"ev":"connected","connId","account",
                              "addresses":[{"eth","fil"}],"accepted","refused"}, {"ev":"request","address",
                              "type"}, {"ev":"retry"|"disconnected"|"refused"|"stopped",…}; never a key
                              or the signed bytes. Exits 1 when the gateway refuses the token or keys.

An address is eth (0x…, any case) or Filecoin (f1…/t1…); both spellings of one key reach the same
signer. Refusals: E_UNAUTHORIZED (token missing/invalid/revoked), E_FORBIDDEN (permission),
E_RATE_LIMITED, E_NO_WALLET, E_WALLET_BUSY, E_TIMEOUT. A key file that others may read, or that holds
anything but keys, is refused with E_BAD_INPUT.

flags:
${flagHelp(FLAGS)}`;

export const command: Command = {
  name: 'wallet',
  summary: 'the signer gateway: has, sign, list wallets as a producer; run a wallet process',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    const [op, ...rest] = args;
    if (op === undefined) throw new UsageError('missing <operation>: has, sign, list or run');
    const { redis, prefix } = clusterOptions(flags);
    if (op === 'run') {
      positionals(rest, []);
      return runWallet({ redis, prefix, token: flags.token, keyFile: flags['key-file'], filnet: flags.filnet, form: flags.form }, io);
    }
    const run = <T>(f: (c: GatewayClient) => Promise<T>): Promise<T> => gatewayCall({ redis, prefix, timeoutMs: flags.timeout, token: flags.token }, f);
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
        throw new UsageError(`unknown operation "${op}" (has, sign, list, run)`);
    }
  },
};


interface RunOptions {
  redis: RedisTarget;
  prefix: string;
  token: string | undefined;
  keyFile: string | undefined;
  filnet: string | undefined;
  form: string | undefined;
}

/**
 * Serves the keys of the key file until SIGINT/SIGTERM (then says bye, so that the gateway drops the
 * routes at once, and resolves 0). A permanent refusal (token, keys) rejects: exit 1 with its code.
 * Transient failures (Redis away, no gateway yet) are retried by the connector with backoff.
 */
async function runWallet(o: RunOptions, io: Io): Promise<number> {
  if (o.keyFile === undefined) throw new UsageError('run needs --key-file F (env HWAY_WALLET_KEY_FILE)');
  if (o.filnet !== 'f' && o.filnet !== 't') throw new UsageError(`--filnet must be f or t, not "${o.filnet}"`);
  if (o.form !== 'eth' && o.form !== 'fil' && o.form !== 'both') throw new UsageError(`--form must be eth, fil or both, not "${o.form}"`);
  const filNetwork: FilNetwork = o.filnet;
  const keys = readWalletKeyFile(o.keyFile);
  const shown = keys.map((k) => addressesOf(secp256k1.getPublicKey(k, false), { filNetwork }));
  const local = localKeyWallet(keys, { form: o.form, filNetwork });
  await checkRedis(o.redis);
  const event = (obj: Record<string, unknown>, text: string): void => {
    if (io.json) io.out(obj, '');
    else if (text !== '') process.stdout.write(`${text}\n`);
  };
  const wallet = new WalletConnector({
    redis: o.redis,
    prefix: o.prefix,
    ...(o.token ? { token: o.token } : {}),
    logger: makeLogger('wallet'),
    ...local,
    onSign: (req) => {
      // What was asked and for whom, never the bytes: they may be a message the producer keeps private.
      event({ ev: 'request', address: req.address, type: req.meta.type }, '');
      return local.onSign(req);
    },
  });
  // Ends on SIGINT/SIGTERM (resolves 0 once the bye is sent) or on a permanent refusal while
  // reconnecting (rejects with it: exit 1 and its code).
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  let stopping = false;
  const stopped = new Promise<number>((resolve, reject) => {
    onSignal = (signal) => {
      stopping = true;
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      void wallet.close().then(() => {
        event({ ev: 'stopped', signal }, `wallet stopped (${signal})`);
        resolve(0);
      }, reject);
    };
    wallet.on('refused', (e: unknown) => {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      void wallet.close().finally(() => reject(e));
    });
  });
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  wallet.on('connected', (w: Welcome) => {
    const refused = w.refused.map((r) => `${r.target} (${r.code})`).join(', ');
    event(
      { ev: 'connected', connId: w.connId, account: w.account, addresses: shown, accepted: w.accepted, refused: w.refused },
      `wallet connected (${w.connId}, account ${w.account}): serving ${w.accepted.length} address(es)\n${shown.map((a) => `  ${a.eth}  ${a.fil}`).join('\n')}${refused ? `\nrefused: ${refused}` : ''}`,
    );
  });
  wallet.on('retry', (r: { code: string; waitMs: number }) => event({ ev: 'retry', code: r.code, waitMs: r.waitMs }, `gateway not reached (${r.code}); retrying in ${r.waitMs} ms`));
  wallet.on('disconnected', (reason: string) => event({ ev: 'disconnected', reason }, `disconnected (${reason}); reconnecting`));
  const connecting = wallet.connect();
  connecting.catch(() => undefined); // a signal may end the run first: its failure then matters no more
  try {
    // A signal while connecting ends the run at once, not when the handshake in flight gives up.
    await Promise.race([connecting, stopped]);
  } catch (e) {
    // Stopped by a signal while connecting: the handshake in flight fails (closed, or its timeout).
    if (stopping) return stopped;
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await wallet.close();
    throw e;
  }
  return stopped;
}
