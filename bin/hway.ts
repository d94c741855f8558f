#!/usr/bin/env node
// `hway <command> [...]`: finds the command module in bin/commands/, handles --help and --json for
// every command, and turns whatever a command throws into the CLI's error line and exit code.
// A command module is loaded only when it runs (or for the command list), so that `hway vault …`
// does not pay for the node's imports.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT_USAGE, fail, makeIo, UsageError, type Command, type Io } from './cli.js';

const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'commands');
/** Command modules are .ts in a git checkout (run through tsx by bin/hway) and .js in the package. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
/** The order of `hway --help`; modules not listed here follow alphabetically. */
const ORDER = ['demo', 'start', 'cluster', 'vault', 'wallet', 'proof', 'token', 'audit', 'status', 'dlq'];

function commandNames(): string[] {
  let files: string[] = [];
  try {
    files = readdirSync(COMMANDS_DIR);
  } catch {
    return [];
  }
  const names = files.filter((f) => f.endsWith(EXT) && !f.endsWith('.d.ts') && !f.includes('.test.')).map((f) => f.slice(0, -EXT.length));
  const rank = (n: string): number => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function isCommand(x: unknown): x is Command {
  if (typeof x !== 'object' || x === null) return false;
  const c = x as Record<string, unknown>;
  return typeof c.name === 'string' && typeof c.run === 'function';
}

/** The module's `command` export; tolerates a default export or a single Command-shaped export. */
async function load(name: string): Promise<Command | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
  const file = join(COMMANDS_DIR, `${name}${EXT}`);
  if (!existsSync(file)) return undefined;
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const found = [mod.command, mod.default, ...Object.values(mod)].find(isCommand);
  if (found === undefined) return undefined;
  const c = found as Command & { summary?: string; help?: string };
  return {
    name: c.name,
    summary: typeof c.summary === 'string' ? c.summary : '',
    help: typeof c.help === 'string' ? c.help : `hway ${c.name}`,
    // A run() that resolves to nothing succeeded.
    run: async (argv: string[], io: Io): Promise<number> => (await c.run(argv, io)) ?? 0,
  };
}

async function usage(): Promise<string> {
  const cmds = (await Promise.all(commandNames().map((n) => load(n).catch(() => undefined)))).filter((c): c is Command => c !== undefined);
  const w = Math.max(0, ...cmds.map((c) => c.name.length));
  return [
    'hway: Highway, an actor-model runtime for custodial key vaults',
    '',
    'usage: hway <command> [arguments] [--json] [--help]',
    '',
    'commands:',
    ...cmds.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Every client command takes --redis URL (env HWAY_REDIS, default redis://127.0.0.1:6379) or, for a Redis',
    'Cluster, --redis-cluster HOST:PORT[,HOST:PORT…] (env HWAY_REDIS_CLUSTER; not both), --prefix P',
    '(env HWAY_PREFIX), --partitions N (env HWAY_PARTITIONS), --token T (env HWAY_TOKEN) where auth is on,',
    'and --json for one JSON object on stdout. Passwords are read from --password-file F or standard input,',
    'never from the command line. Exit codes: 0 ok, 1 failed, 2 usage error, 3 Redis unreachable or',
    'unusable as configured (E_REDIS_UNAVAILABLE, E_REDIS_MISCONFIGURED).',
    '',
    'Run `hway <command> --help` for its arguments and flags.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  // --json and --help apply to every command: taken out here (before a `--`), wherever they stand.
  const end = argv.indexOf('--');
  const head = end >= 0 ? argv.slice(0, end) : argv;
  const tail = end >= 0 ? argv.slice(end) : [];
  const json = head.includes('--json');
  const help = head.includes('--help') || head.includes('-h');
  const rest = [...head.filter((a) => a !== '--json' && a !== '--help' && a !== '-h'), ...tail];
  const io = makeIo(json);

  let name = rest[0];
  if (name === 'help') {
    name = rest[1];
    if (name === undefined) {
      process.stdout.write(`${await usage()}\n`);
      return 0;
    }
    return showHelp(name, io);
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write('hway 0.1.0\n');
    return 0;
  }
  if (name === undefined) {
    if (help) {
      process.stdout.write(`${await usage()}\n`);
      return 0;
    }
    process.stderr.write(`${await usage()}\n`);
    return fail(io, new UsageError('no command given'));
  }
  if (help) return showHelp(name, io);
  const cmd = await load(name);
  if (cmd === undefined) return unknown(name, io);
  try {
    return await cmd.run(rest.slice(1), io);
  } catch (e) {
    return fail(io, e);
  }
}

async function showHelp(name: string, io: Io): Promise<number> {
  const cmd = await load(name);
  if (cmd === undefined) return unknown(name, io);
  process.stdout.write(cmd.help.endsWith('\n') ? cmd.help : `${cmd.help}\n`);
  return 0;
}

async function unknown(name: string, io: Io): Promise<number> {
  process.stderr.write(`${await usage()}\n\n`);
  fail(io, new UsageError(`unknown command "${name}"`));
  return EXIT_USAGE;
}

const code = await main(process.argv.slice(2));
// Commands close what they open; exiting here also ends anything a library left behind (a timer, a
// socket), so that a finished command never hangs. stdout/stderr writes are synchronous on pipes and files.
process.exit(code);
