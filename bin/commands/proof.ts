// `hway proof list|connection|compute`: the proof side of the signer gateway, as a producer (what
// sophon-gateway calls ListConnectedMiners, ListMinerConnection and ComputeProof). Requests go to any
// gateway node; it routes ComputeProof to a connected proof worker (ProofWorkerConnector) of the
// miner, within the token's account, and answers the worker's JSON as it is.
import { readFileSync } from 'node:fs';
import { HwayError } from '../../errors.js';
import { MINER_RE, type JsonValue } from '../../actors/gateway/frames.js';
import type { GatewayClient } from '../../actors/gateway/producer.js';
import { gatewayCall } from '../gateway-call.js';
import { CLIENT_FLAGS, clusterOptions, flagHelp, parseFlags, positionals, table, UsageError, type Command, type Io } from '../cli.js';

const FLAGS = {
  ...CLIENT_FLAGS,
  sectors: { type: 'string', arg: 'F', desc: 'compute: JSON file of the sector infos (- for standard input)' },
  rand: { type: 'string', arg: 'HEX', desc: 'compute: the proof randomness, hex' },
} as const;

const help = `hway proof <operation> [arguments] [flags]

operations:
  list                                  miners with a connected proof worker in your account:
                                        {"miners":["f01000",…]}
  connection <miner>                    the worker connections of a miner:
                                        {"miner","connections":[{"id","inFlight"}]}
  compute <miner> --sectors F --rand HEX
                                        ask a worker of the miner for a proof: {"miner","proof"}
                                        (proof: the worker's JSON answer, as it sent it)

A miner id is f0…/t0… (digits). The token (--token / HWAY_TOKEN, permission "sign" for compute)
names the account; only its workers are seen. Refusals: E_UNAUTHORIZED, E_FORBIDDEN, E_RATE_LIMITED,
E_NO_WALLET (no worker of that miner), E_WALLET_BUSY, E_TIMEOUT, and the worker's own error code.

flags:
${flagHelp(FLAGS)}

examples:
  hway proof list --json
  hway proof compute f01000 --sectors sectors.json --rand 0f3a… --json`;

function minerOf(m: string | undefined): string {
  if (m === undefined || !MINER_RE.test(m)) throw new UsageError(`<miner> must be a miner id (f0…/t0…), not "${m ?? ''}"`);
  return m;
}

function readSectors(file: string | undefined): JsonValue {
  if (file === undefined) throw new UsageError('compute needs --sectors F (a JSON file of the sector infos; - for standard input)');
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new HwayError('E_BAD_INPUT', `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { permanent: true });
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new HwayError('E_BAD_INPUT', `${file} is not JSON`, { permanent: true });
  }
}

function randOf(hex: string | undefined): Uint8Array {
  if (hex === undefined) throw new UsageError('compute needs --rand HEX (the proof randomness)');
  const clean = hex.replace(/^0x/, '');
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError('--rand must be an even number of hex digits');
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export const command: Command = {
  name: 'proof',
  summary: 'the proof API as a producer: list miners, their connections, compute a proof',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    const [op, ...rest] = args;
    if (op === undefined) throw new UsageError('missing <operation>: list, connection or compute');
    const { redis, prefix } = clusterOptions(flags);
    const run = <T>(f: (c: GatewayClient) => Promise<T>): Promise<T> => gatewayCall({ redis, prefix, timeoutMs: flags.timeout, token: flags.token }, f);
    switch (op) {
      case 'list': {
        positionals(rest, []);
        const miners = await run((c) => c.listConnectedMiners());
        io.out({ miners }, miners.length === 0 ? 'no proof worker connected' : miners.join('\n'));
        return 0;
      }
      case 'connection': {
        const [m] = positionals(rest, ['miner']);
        const miner = minerOf(m);
        const r = await run((c) => c.listMinerConnection(miner));
        io.out(r, r.connections.length === 0 ? `no worker of ${miner} is connected` : table([['connection', 'in flight'], ...r.connections.map((x) => [x.id, String(x.inFlight)])]));
        return 0;
      }
      case 'compute': {
        const [m] = positionals(rest, ['miner']);
        const miner = minerOf(m);
        const randomness = randOf(flags.rand);
        const sectors = readSectors(flags.sectors);
        const proof = await run((c) => c.computeProof(miner, sectors, randomness));
        io.out({ miner, proof }, JSON.stringify(proof, null, 2));
        return 0;
      }
      default:
        throw new UsageError(`unknown operation "${op}" (list, connection, compute)`);
    }
  },
};
