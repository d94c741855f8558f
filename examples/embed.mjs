// Highway embedded in a Node service: one node and one producer in this process, every vault
// operation once, plus a task type of the service's own. Run with plain `node` after `npm install hway`
// (Redis on 127.0.0.1:6379, or HWAY_REDIS; the key prefix from HWAY_PREFIX, else a fresh one):
//   node examples/embed.mjs
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, HwayClient, TokenService } from 'hway';

const redis = process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379';
// Producers and nodes must agree on the key prefix and the partition count.
const prefix = process.env.HWAY_PREFIX ?? `embed-${randomBytes(4).toString('hex')}`;
const partitions = 16;
const dataDir = mkdtempSync(join(tmpdir(), 'hway-embed-'));

// The master key seals every vault: a real service takes it from its secret store (or lets the node
// keep a 0600 key file under dataDir with `createMasterKey: true`). Here, a fresh one per run.
const masterKeys = `1:${randomBytes(32).toString('hex')}`;
// Auth is on by default: the token secret signs the tokens that producers and wallets present. A
// real service takes it from its secret store too (or `createTokenSecret: true` keeps a 0600 file).
const tokenSecret = randomBytes(32).toString('hex');
const node = createNode({ redis, prefix, partitions, dataDir, masterKeys, tokenSecret });

// A task type of this service: the payload is validated before the handler sees it.
node.registerTask('invoice:settle', {
  validate: (p) => {
    if (typeof p !== 'object' || p === null || typeof p.invoiceId !== 'string') throw new Error('invoiceId (string) is required');
    return { invoiceId: p.invoiceId };
  },
  handle: async ({ invoiceId }) => ({ invoiceId, settled: true }),
});
await node.start();

// This service's producer acts for account "payments"; "admin" because it exports.
const issuer = new TokenService({ redis, secret: tokenSecret, prefix, subscribe: false });
const { token } = await issuer.issue({ account: 'payments', perm: 'admin', ttlSec: 3600 });
await issuer.close();
const client = new HwayClient({ redis, prefix, partitions, token });
try {
  const digest = createHash('sha256').update('pay 10 to bob').digest(); // 32 bytes to sign
  const password = randomBytes(16).toString('base64url');               // the export's password

  const vault = await client.vault.generate('treasury-1');
  console.log('generated', vault.vaultId, vault.addresses.eth);

  const sig = await client.vault.sign('treasury-1', digest);             // r‖s hex (low-S) + recovery id
  const { valid } = await client.vault.verify(vault.publicKey, digest, sig.signature);
  console.log('signed and verified:', valid);

  const { cid } = await client.vault.export('treasury-1', password);     // encrypted, stored in IPFS
  console.log('exported to IPFS as', cid);

  const copy = await client.vault.import(cid, 'treasury-1-copy', password);
  const again = await client.vault.sign('treasury-1-copy', digest);
  console.log('imported; same key:', copy.publicKey === vault.publicKey, '; same signature:', again.signature === sig.signature);

  const settled = await client.call('invoice:settle', { invoiceId: 'inv-7' }, { key: 'inv-7', priority: 'critical' });
  console.log('custom task:', JSON.stringify(settled));
} finally {
  await client.close();
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
console.log('stopped');
