// `hway vault …`: the vault operations as a producer, through the Redis mailbox to whichever node
// owns the vault's partition. Payload checks happen on the node (a bad hex string comes back as
// E_BAD_PAYLOAD, like it would for any producer); the CLI only checks its own command line, and an
// export password's length (E_WEAK_PASSWORD, as the client and the node would) before anything is sent.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HwayError } from '../../errors.js';
import { isScheme, SCHEMES, type Scheme } from '../../actors/chains/names.js';
import type { HwayClient } from '../../actors/client.js';
import { checkExportPassword, MIN_EXPORT_PASSWORD, type HashName } from '../../actors/vault/payloads.js';
import { CLIENT_FLAGS, flagHelp, openClient, parseFlags, positionals, readPassword, UsageError, type Command, type Io } from '../cli.js';

const HASH_FLAG = { hash: { type: 'string', default: 'none', arg: 'H', desc: 'none (hex is a 32-byte digest), sha256 or keccak256 (hex is the message)' } } as const;
const PASSWORD_FLAG = { 'password-file': { type: 'string', arg: 'F', desc: 'read the export password from file F (else from standard input)' } } as const;
const GENERATE_FLAG = {
  'generate-password': { type: 'boolean', desc: 'export: use a new random 128-bit password (22 characters, base64url) and print it once' },
} as const;
const SIGN_AS_FLAGS = {
  scheme: { type: 'string', arg: 'S', desc: `sign-as: ${SCHEMES.join(', ')}` },
  'input-file': { type: 'string', arg: 'F', desc: 'sign-as: the JSON input (a message, typed data, transaction or Filecoin message); - for standard input' },
} as const;
const ALL_FLAGS = { ...CLIENT_FLAGS, ...HASH_FLAG, ...PASSWORD_FLAG, ...GENERATE_FLAG, ...SIGN_AS_FLAGS };

const help = `hway vault <operation> [arguments] [flags]

operations:
  generate <vaultId>                         create a vault: {"vaultId","publicKey","addresses":{"eth","fil"}}
  sign <vaultId> <hex> [--hash H]            sign: {"signature","recovery"} (64-byte r||s hex, low-S; recovery 0-3)
  sign-as <vaultId> --scheme S --input-file F
                                             chain-native signing; F holds the JSON input (- : stdin):
                                               eth-personal {"message":"text"} or {"raw":"0x…"} -> {"signature"}
                                               eth-typed    an eth_signTypedData_v4 document -> {"signature"}
                                                            (65-byte r||s||v hex, v = 27/28)
                                               eth-tx       {"chainId","nonce","to","value","gas",
                                                            "maxFeePerGas","maxPriorityFeePerGas"|"gasPrice",…}
                                                            -> {"serialized","hash"}
                                               fil-message  a Lotus JSON message {"To","From","Nonce","Value",
                                                            "GasLimit","GasFeeCap","GasPremium","Method","Params"}
                                                            -> {"message","signature":{"Type":1,"Data"},"cid",
                                                            "signedCid","signedMessage"}
  verify <publicKey> <hex> <signature> [--hash H]
                                             verify: {"valid":true|false}; exits 0 either way once the check
                                             ran (read "valid"), non-zero only when it could not run
  refresh <vaultId>                          re-seal under the current master key: {"vaultId","epoch","publicKey"}
  export <vaultId> [--password-file F | --generate-password]
                                             password-encrypted export to IPFS: {"vaultId","cid"}, and
                                             with --generate-password also {"password"} (shown only once)
  import <cid> <vaultId> [--password-file F] restore an export as <vaultId>: {"vaultId","publicKey","addresses",
                                             "sourceVaultId"} (sourceVaultId: the exporting vault)
  info <vaultId>                             the vault's record: public key, addresses, account, epoch, version
  delete <vaultId>                           delete the vault: {"vaultId","deleted":true}

Passwords come from --password-file F or standard input (piped, or typed without echo at a
terminal); never from the command line. An export password has at least ${MIN_EXPORT_PASSWORD} characters
(E_WEAK_PASSWORD otherwise); --generate-password makes one from 16 random bytes instead. Exports are
envelope v2: Argon2id with 256 MiB of memory and 3 passes, about 1-3 s per export or import; import
also restores v1 (scrypt) exports of older versions, with any password length.
Vault ids are 1-128 characters of A-Z a-z 0-9 . _ -

flags:
${flagHelp(ALL_FLAGS)}

examples:
  hway vault generate alice
  hway vault sign alice 68656c6c6f --hash sha256 --json
  hway vault sign-as alice --scheme eth-tx --input-file tx.json --json
  echo 'correct horse battery staple' | hway vault export alice
  hway vault export alice --generate-password --json > alice-export.json   # keep that file secret
  hway vault import bafk... alice-copy --password-file ./pw.txt`;

type Op = (c: HwayClient, args: string[], f: ReturnType<typeof parseFlags<typeof ALL_FLAGS>>['flags'], io: Io) => Promise<void>;

function hashOf(h: string | undefined): HashName {
  if (h === 'none' || h === 'sha256' || h === 'keccak256') return h;
  throw new UsageError(`--hash must be none, sha256 or keccak256, not "${h}"`);
}

function schemeOf(s: string | undefined): Scheme {
  if (s === undefined) throw new UsageError(`--scheme is required: one of ${SCHEMES.join(', ')}`);
  if (!isScheme(s)) throw new UsageError(`--scheme must be one of ${SCHEMES.join(', ')}, not "${s}"`);
  return s;
}

/** The JSON document of --input-file (- or absent: standard input). */
function readInput(file: string | undefined): unknown {
  if (file === undefined) throw new UsageError('--input-file F is required (a JSON file; - reads standard input)');
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new HwayError('E_BAD_INPUT', `cannot read input file ${file} (${(e as { code?: string }).code ?? 'error'})`, { permanent: true });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new HwayError('E_BAD_INPUT', `input file ${file} is not JSON: ${(e as Error).message}`, { permanent: true });
  }
}

const ops: Record<string, { args: string[]; flags: Array<keyof typeof ALL_FLAGS>; run: Op }> = {
  generate: {
    args: ['vaultId'],
    flags: [],
    run: async (c, [id], _f, io) => {
      const v = await c.vault.generate(id!);
      io.out(v, `vault      ${v.vaultId}\npublicKey  ${v.publicKey}\neth        ${v.addresses.eth}\nfil        ${v.addresses.fil}`);
    },
  },
  sign: {
    args: ['vaultId', 'hex'],
    flags: ['hash'],
    run: async (c, [id, hex], f, io) => {
      const s = await c.vault.sign(id!, hex!, { hash: hashOf(f.hash) });
      io.out({ signature: s.signature, recovery: s.recovery }, `signature  ${s.signature}\nrecovery   ${s.recovery}`);
    },
  },
  'sign-as': {
    args: ['vaultId'],
    flags: ['scheme', 'input-file'],
    run: async (c, [id], f, io) => {
      const scheme = schemeOf(f.scheme);
      const input = readInput(f['input-file']);
      const r = await c.vault.signAs<Record<string, unknown>>(id!, scheme, input);
      const text = Object.entries(r)
        .map(([k, v]) => `${k.padEnd(13)}${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('\n');
      io.out(r, text);
    },
  },
  verify: {
    args: ['publicKey', 'hex', 'signature'],
    flags: ['hash'],
    run: async (c, [pub, hex, sig], f, io) => {
      const r = await c.vault.verify(pub!, hex!, sig!, { hash: hashOf(f.hash) });
      io.out({ valid: r.valid }, r.valid ? 'valid: the signature matches the public key and message' : 'INVALID: the signature does not match');
    },
  },
  refresh: {
    args: ['vaultId'],
    flags: [],
    run: async (c, [id], _f, io) => {
      const r = await c.vault.refresh(id!);
      io.out(r, `vault      ${r.vaultId}\nepoch      ${r.epoch}\npublicKey  ${r.publicKey}`);
    },
  },
  export: {
    args: ['vaultId'],
    flags: ['password-file', 'generate-password'],
    run: async (c, [id], f, io) => {
      const generated = f['generate-password'];
      // 16 random bytes: 128 bits, as 22 base64url characters (no padding, nothing to escape in a shell).
      const pw = generated ? randomBytes(16).toString('base64url') : await readPassword(f['password-file']);
      checkExportPassword(pw);
      const r = await c.vault.export(id!, pw);
      if (generated) {
        io.out({ vaultId: r.vaultId, cid: r.cid, password: pw }, `exported ${r.vaultId} to IPFS\ncid       ${r.cid}\npassword  ${pw}\n(the password is shown only this once: store it now)`);
      } else {
        io.out({ vaultId: r.vaultId, cid: r.cid }, `exported ${r.vaultId} to IPFS\ncid  ${r.cid}`);
      }
    },
  },
  import: {
    args: ['cid', 'vaultId'],
    flags: ['password-file'],
    run: async (c, [cid, id], f, io) => {
      const pw = await readPassword(f['password-file']);
      const v = await c.vault.import(cid!, id!, pw);
      const from = v.sourceVaultId === undefined ? '' : `\nexported from ${v.sourceVaultId}`;
      io.out(v, `imported as ${v.vaultId}\npublicKey  ${v.publicKey}\neth        ${v.addresses.eth}\nfil        ${v.addresses.fil}${from}`);
    },
  },
  info: {
    args: ['vaultId'],
    flags: [],
    run: async (c, [id], _f, io) => {
      const v = await c.vault.info(id!);
      const when = (t: number): string => new Date(t).toISOString();
      io.out(
        v,
        [
          `vault      ${v.vaultId}`,
          `publicKey  ${v.publicKey}`,
          `eth        ${v.addresses.eth}`,
          `fil        ${v.addresses.fil}`,
          `account    ${v.account}`,
          `epoch      ${v.epoch}`,
          `version    ${v.version}`,
          `created    ${when(v.createdAt)}`,
          `updated    ${when(v.updatedAt)}`,
        ].join('\n'),
      );
    },
  },
  delete: {
    args: ['vaultId'],
    flags: [],
    run: async (c, [id], _f, io) => {
      const r = await c.vault.delete(id!);
      io.out(r, `deleted ${r.vaultId}`);
    },
  },
};

const COMMON = Object.keys(CLIENT_FLAGS);

export const command: Command = {
  name: 'vault',
  summary: 'generate, sign, sign-as, verify, refresh, export, import, info, delete a vault',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const [opName, ...rest] = argv;
    if (opName === undefined) throw new UsageError(`missing operation: one of ${Object.keys(ops).join(', ')}`);
    const op = Object.prototype.hasOwnProperty.call(ops, opName) ? ops[opName] : undefined;
    if (op === undefined) throw new UsageError(`unknown vault operation "${opName}": one of ${Object.keys(ops).join(', ')}`);
    // Only the flags this operation takes: `--hash` on export is a mistake worth reporting.
    const allowed = Object.fromEntries(Object.entries(ALL_FLAGS).filter(([k]) => COMMON.includes(k) || (op.flags as string[]).includes(k))) as typeof ALL_FLAGS;
    const { flags, args } = parseFlags(rest, allowed, io.env);
    positionals(args, op.args);
    if (op.flags.includes('hash')) hashOf(flags.hash);
    if (op.flags.includes('scheme')) schemeOf(flags.scheme);
    if (flags['generate-password'] && flags['password-file'] !== undefined) {
      throw new UsageError('--generate-password and --password-file exclude each other');
    }
    const client = await openClient(flags);
    try {
      await op.run(client, args, flags, io);
      return 0;
    } finally {
      await client.close();
    }
  },
};
