// Enclave benchmark: sign and verify per second for the enclave, @noble/curves and node:crypto in the
// same run, with ratios; plugin instance creation time; resident memory per vault instance.
//   npm run bench:enclave [-- --json] [-- --seconds S] [-- --instances N]
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { Enclave, type SealBinding, type VaultEnclave } from '../enclaves/enclave.js';
import { ring } from '../enclaves/master-keys.js';
import { fmt, table, throughput, throughputSync, wantsJson, type Row } from './report.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MS = arg('seconds', 2) * 1000;
const INSTANCES = arg('instances', 2000);
const log = (s: string): void => {
  if (!wantsJson()) process.stderr.write(s + '\n');
};

const digest = createHash('sha256').update('benchmark message').digest();
const msg = Buffer.from('benchmark message');
// Every benchmark vault belongs to one account (the enclave binds a seal to its vault id and account).
const bench = (vaultId: string): SealBinding => ({ vaultId, account: 'bench' });

async function enclaveRates(workers: number): Promise<{ sign: number; verify: number; signVerify: number }> {
  const enclave = await Enclave.open({ masterKeys: ring([{ id: 1, key: new Uint8Array(32).fill(9) }]), workers, kdfWorkers: 1 });
  try {
    const vaults: VaultEnclave[] = await Promise.all(Array.from({ length: 64 }, () => enclave.vault()));
    const keys = await Promise.all(vaults.map((v, i) => v.generate(bench(`bench-${i}`))));
    const sig = await vaults[0]!.sign(keys[0]!.sealed, bench('bench-0'), digest);
    let i = 0;
    const signRate = await throughput(() => {
      const k = i++ & 63;
      return vaults[k]!.sign(keys[k]!.sealed, bench(`bench-${k}`), digest);
    }, MS, 256);
    const verifyRate = await throughput(() => enclave.verify(keys[0]!.publicKey, digest, sig.signature), MS, 256);
    const signVerify = await throughput(async () => {
      const k = i++ & 63;
      const s = await vaults[k]!.sign(keys[k]!.sealed, bench(`bench-${k}`), digest);
      return enclave.verify(keys[k]!.publicKey, digest, s.signature);
    }, MS, 256);
    await Promise.all(vaults.map((v) => v.close()));
    return { sign: signRate, verify: verifyRate, signVerify };
  } finally {
    await enclave.close();
  }
}

function nobleRates(): { sign: number; verify: number; signVerify: number } {
  const priv = secp256k1.utils.randomSecretKey();
  const pub = secp256k1.getPublicKey(priv);
  const sig = secp256k1.sign(digest, priv, { prehash: false });
  return {
    sign: throughputSync(() => secp256k1.sign(digest, priv, { prehash: false }), MS),
    verify: throughputSync(() => secp256k1.verify(sig, digest, pub, { prehash: false }), MS),
    signVerify: throughputSync(() => secp256k1.verify(secp256k1.sign(digest, priv, { prehash: false }), digest, pub, { prehash: false }), MS),
  };
}

function nodeRates(): { sign: number; verify: number; signVerify: number } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const priv = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const pub = createPublicKey(priv);
  const sig = sign('sha256', msg, { key: priv, dsaEncoding: 'ieee-p1363' });
  return {
    sign: throughputSync(() => sign('sha256', msg, { key: priv, dsaEncoding: 'ieee-p1363' }), MS),
    verify: throughputSync(() => verify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, sig), MS),
    signVerify: throughputSync(() => verify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, sign('sha256', msg, { key: priv, dsaEncoding: 'ieee-p1363' })), MS),
  };
}

/** Creation time and resident memory of `n` vault instances that have each generated and signed. */
async function instanceCost(n: number): Promise<{ createMs: number; rssKiBPerInstance: number; heapKiBPerInstance: number }> {
  const enclave = await Enclave.open({ masterKeys: ring([{ id: 1, key: new Uint8Array(32).fill(9) }]), workers: 2 });
  try {
    const warm = await enclave.vault(); // the workers and their shared state exist before the baseline
    const g = await warm.generate(bench('warm'));
    await warm.sign(g.sealed, bench('warm'), digest);
    global.gc?.();
    await new Promise((r) => setTimeout(r, 200));
    const before = process.memoryUsage();
    const t0 = performance.now();
    const vaults = await Promise.all(Array.from({ length: n }, () => enclave.vault()));
    const createMs = (performance.now() - t0) / n;
    // Each instance builds its signing tables on first use: measure instances that have signed.
    await Promise.all(vaults.map((v) => v.sign(g.sealed, bench('warm'), digest)));
    global.gc?.();
    await new Promise((r) => setTimeout(r, 200));
    const after = process.memoryUsage();
    await Promise.all(vaults.map((v) => v.close()));
    await warm.close();
    return { createMs, rssKiBPerInstance: (after.rss - before.rss) / 1024 / n, heapKiBPerInstance: (after.heapUsed - before.heapUsed) / 1024 / n };
  } finally {
    await enclave.close();
  }
}

log(`measuring ${MS / 1000} s per figure …`);
const noble = nobleRates();
log('@noble/curves done');
const node = nodeRates();
log('node:crypto done');
const e1 = await enclaveRates(1);
log('enclave (1 worker) done');
const e2 = await enclaveRates(2);
log('enclave (2 workers) done');
const cost = await instanceCost(INSTANCES);
log('instances done');

const rows: Row[] = [
  { implementation: '@noble/curves 2.4 (baseline)', 'sign/s': noble.sign, 'verify/s': noble.verify, 'sign+verify/s': noble.signVerify, 'vs noble': '1.00x' },
  { implementation: 'node:crypto (OpenSSL)', 'sign/s': node.sign, 'verify/s': node.verify, 'sign+verify/s': node.signVerify, 'vs noble': `${fmt(node.signVerify / noble.signVerify, 2)}x` },
  { implementation: 'enclave, 1 worker thread', 'sign/s': e1.sign, 'verify/s': e1.verify, 'sign+verify/s': e1.signVerify, 'vs noble': `${fmt(e1.signVerify / noble.signVerify, 2)}x` },
  { implementation: 'enclave, 2 worker threads', 'sign/s': e2.sign, 'verify/s': e2.verify, 'sign+verify/s': e2.signVerify, 'vs noble': `${fmt(e2.signVerify / noble.signVerify, 2)}x` },
];
const result = {
  seconds: MS / 1000,
  rates: { noble, node, enclave1: e1, enclave2: e2 },
  ratios: {
    enclave1VsNoble: e1.signVerify / noble.signVerify,
    enclave2VsNoble: e2.signVerify / noble.signVerify,
    enclave1VsNode: e1.signVerify / node.signVerify,
  },
  instances: { count: INSTANCES, ...cost },
};
if (wantsJson()) {
  console.log(JSON.stringify(result));
} else {
  console.log(table('secp256k1 sign/verify (each sign in the enclave also unseals the key: HKDF + XChaCha20-Poly1305)', rows));
  console.log('');
  console.log(
    table('enclave instances', [
      { instances: INSTANCES, 'create ms/instance': cost.createMs, 'RSS KiB/instance': cost.rssKiBPerInstance, 'JS heap KiB/instance': cost.heapKiBPerInstance },
    ]),
  );
}
