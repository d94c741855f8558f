// `hway cluster --nodes N`: N `hway start` child processes on this machine, for trying partition
// ownership and failover locally. They share one master key (a vault sealed by one node must open on
// any other that takes its partition over) and form an IPFS mesh: each node listens on 127.0.0.1 and
// dials the nodes started before it, so that an export made on one node imports on any other.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseMasterKeys, wipeMasterKeys } from '../../enclaves/master-keys.js';
import { loadMasterKeys } from '../../storage/master-key-file.js';
import { loadTokenSecret } from '../../storage/token-secret-file.js';
import { preflight } from '../../storage/redis-preflight.js';
import { clusterOptions, connectRedis, flagHelp, parseFlags, positionals, PREFLIGHT_MS, REDIS_FLAGS, UsageError, type Command, type Io } from '../cli.js';

// The executable that runs this file: bin/hway (tsx) in a git checkout, dist/bin/hway.js in the package.
const HWAY_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', import.meta.url.endsWith('.ts') ? 'hway' : 'hway.js');

const FLAGS = {
  nodes: { type: 'number', default: 3, desc: 'how many nodes to run (1-32)' },
  ...REDIS_FLAGS,
  'data-dir': { type: 'string', env: 'HWAY_DATA_DIR', default: './.hway', arg: 'DIR', desc: 'base directory: <DIR>/node-<i> per node, <DIR>/master.key shared' },
  concurrency: { type: 'number', env: 'HWAY_CONCURRENCY', default: 10, desc: 'tasks in flight per node' },
  'insecure-no-auth': { type: 'boolean', env: 'HWAY_INSECURE_NO_AUTH', desc: 'run the nodes without auth (only for a Redis nobody else reaches)' },
} as const;

const help = `hway cluster --nodes N [flags]

Runs N nodes as child processes of \`hway start\` (node ids node-1 … node-N), each with its own data
directory <data-dir>/node-<i>, all sharing the master key <data-dir>/master.key and the token secret
<data-dir>/token.secret (each created, mode 0600, if missing; HWAY_MASTER_KEY and HWAY_TOKEN_SECRET
win). The nodes get files, never secrets: neither appears in a child's arguments or environment
(a secret from the environment is handed over in a private 0600 file, removed once the nodes have
read it). Issue tokens with hway token issue --data-dir <data-dir>. Their output lines are
prefixed [node-<i>]. The nodes form an
IPFS mesh on 127.0.0.1 so that any node can import what another exported. SIGINT (Ctrl-C) or
SIGTERM stops them all gracefully; the command exits when they have (a third signal kills them).
Redis is one server (--redis URL) or a Redis Cluster (--redis-cluster HOST:PORT[,HOST:PORT…]), passed
on to every node; it is checked once before any node starts, as \`hway start\` does (exit 3 with one
line when it cannot work).

flags:
${flagHelp(FLAGS, null)}`;

interface HandedFiles {
  masterKey: string;
  /** undefined: the nodes run without auth. */
  tokenSecret?: string;
  /** Removes the private copies of secrets taken from the environment (none: a no-op). */
  removePrivate(): void;
}

/**
 * The files the nodes read their secrets from. Shared files in `base` are created when missing; a
 * secret given in the environment is written to a private directory (0700, files 0600) instead, so
 * that it reaches the children without being in their environment or arguments.
 */
function handOver(base: string, env: NodeJS.ProcessEnv, n: number, insecure: boolean): HandedFiles {
  let priv: string | undefined;
  const privateFile = (name: string, text: string): string => {
    priv ??= mkdtempSync(join(base, '.handover-'));
    chmodSync(priv, 0o700);
    const f = join(priv, name);
    writeFileSync(f, text, { mode: 0o600, flag: 'wx' });
    return f;
  };
  mkdirSync(base, { recursive: true, mode: 0o700 });
  let masterKey = join(base, 'master.key');
  const envKey = (env.HWAY_MASTER_KEY ?? '').trim();
  if (envKey !== '') {
    wipeMasterKeys(parseMasterKeys(envKey)); // a bad key is refused here, once, not by every child
    masterKey = privateFile('master.key', `${envKey}\n`);
  } else {
    const had = existsSync(masterKey);
    loadMasterKeys({ file: masterKey, create: true }); // also refuses a key file readable by others
    if (!had) process.stderr.write(`hway: created master key file ${masterKey} (mode 0600), shared by the ${n} nodes: back it up\n`);
  }
  let tokenSecret: string | undefined;
  if (!insecure) {
    const src = loadTokenSecret({ env, file: join(base, 'token.secret'), create: true });
    if (src!.origin === 'env') tokenSecret = privateFile('token.secret', `${src!.secret}\n`);
    else {
      tokenSecret = src!.path!;
      if (src!.origin === 'created') process.stderr.write(`hway: created token secret file ${tokenSecret} (mode 0600), shared by the ${n} nodes\n`);
    }
  }
  return {
    masterKey,
    ...(tokenSecret === undefined ? {} : { tokenSecret }),
    removePrivate: () => {
      if (priv !== undefined) rmSync(priv, { recursive: true, force: true });
    },
  };
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number>;
}

function prefixLines(stream: NodeJS.ReadableStream, name: string, to: NodeJS.WriteStream, onLine?: (l: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
    onLine?.(line);
    to.write(`[${name}] ${line}\n`);
  });
}

export const command: Command = {
  name: 'cluster',
  summary: 'run N nodes as child processes (Ctrl-C stops them all)',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const n = flags.nodes ?? 3;
    if (n < 1 || n > 32) throw new UsageError('--nodes must be 1 to 32');
    const { redis, redisArgs, prefix, partitions } = clusterOptions(flags);
    const probe = await connectRedis(redis);
    try {
      await preflight(probe, PREFLIGHT_MS, { prefix });
    } finally {
      probe.disconnect();
    }
    const base = resolve(flags['data-dir'] ?? './.hway');
    const insecure = flags['insecure-no-auth'] === true;
    const files = handOver(base, io.env, n, insecure);
    // The children's environment: the caller's, without the secrets that the files now carry.
    const childEnv: NodeJS.ProcessEnv = { ...io.env };
    delete childEnv.HWAY_MASTER_KEY;
    delete childEnv.HWAY_TOKEN_SECRET;

    const children: Child[] = [];
    const mesh: string[] = [];
    let stopping = false;
    let signals = 0;
    const stopAll = (sig: NodeJS.Signals): void => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill(sig);
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) process.stderr.write(`hway: ${sig}: stopping ${children.length} node(s)\n`);
      stopping = true;
      stopAll(signals >= 3 ? 'SIGKILL' : 'SIGTERM');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    // Started one after another: each dials the ones before it (their multiaddrs carry peer ids
    // that are only known once they run), which gives a full mesh.
    for (let i = 1; i <= n && !stopping; i++) {
      const name = `node-${i}`;
      const childArgs = [
        ...process.execArgv,
        HWAY_BIN,
        'start',
        '--json',
        ...redisArgs,
        '--prefix', prefix,
        '--partitions', String(partitions),
        '--data-dir', join(base, name),
        '--node-id', name,
        '--concurrency', String(flags.concurrency ?? 10),
        '--ipfs-listen', '/ip4/127.0.0.1/tcp/0',
        ...mesh.flatMap((a) => ['--ipfs-peer', a]),
        '--master-key-file', files.masterKey,
        ...(files.tokenSecret === undefined ? ['--insecure-no-auth'] : ['--token-secret-file', files.tokenSecret]),
      ];
      const proc = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
      let onReady: (addrs: string[] | undefined) => void = () => {};
      const ready = new Promise<string[] | undefined>((r) => (onReady = r));
      prefixLines(proc.stdout!, name, process.stdout, (line) => {
        if (!line.startsWith('{"ready"')) return;
        try {
          onReady((JSON.parse(line) as { multiaddrs?: string[] }).multiaddrs ?? []);
        } catch {
          /* not the ready line */
        }
      });
      prefixLines(proc.stderr!, name, process.stderr);
      const exited = new Promise<number>((r) =>
        proc.on('exit', (code, sig) => {
          onReady(undefined);
          if (!stopping) process.stderr.write(`hway: ${name} exited (${sig ?? code}) while the cluster runs\n`);
          r(code ?? 1);
        }),
      );
      children.push({ name, proc, exited });
      const addrs = await ready;
      if (addrs === undefined) {
        if (!stopping) {
          process.stderr.write(`hway: ${name} did not start; stopping the others\n`);
          stopping = true;
          stopAll('SIGTERM');
        }
        break;
      }
      mesh.push(...addrs);
    }
    // Every node read its files at start: the private copies of secrets from the environment go.
    files.removePrivate();
    if (!stopping) process.stderr.write(`hway: cluster of ${n} nodes running under prefix "${prefix}"; Ctrl-C stops them all\n`);
    const codes = await Promise.all(children.map((c) => c.exited));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const failed = children.filter((_, i) => codes[i] !== 0).map((c) => c.name);
    if (failed.length) {
      process.stderr.write(`hway: ${failed.join(', ')} did not stop cleanly\n`);
      return 1;
    }
    process.stderr.write(`hway: all ${children.length} node(s) stopped\n`);
    return 0;
  },
};
