// Secrets never logged: a whole scenario runs with every component logging at debug level into a
// buffer, which is then searched for the password, the master key and the private key bytes.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { setRootLogger } from '../log.js';
import { openOnHost } from './helpers/oracle.js';
import { testCluster } from './helpers/node.js';
import { HANG_MS } from './helpers/deadlines.js';

const cluster = testCluster('secrets');
const lines: string[] = [];
let node: HwayNode;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  setRootLogger(logger);
  // Enclave calls here (KDF included) are ordinary work: a hang-only timeout.
  node = cluster.node({ logger, enclaveTimeoutMs: HANG_MS });
  await node.start();
});
afterAll(() => cluster.cleanup());

test('password, master key and private key appear in no log line', async () => {
  const client = cluster.client();
  const password = 'hunter2-but-longer-and-unique-7f3a';
  const v = await client.vault.generate('secretive');
  const digest = createHash('sha256').update('m').digest();
  await client.vault.sign('secretive', digest);
  await client.vault.refresh('secretive');
  const { cid } = await client.vault.export('secretive', password);
  await expect(client.vault.import(cid, 'copy', password + '!')).rejects.toMatchObject({ code: 'E_WRONG_PASSWORD' });
  await client.vault.import(cid, 'copy', password);
  await expect(client.call('vault:export', { vaultId: 'secretive' }, { key: 'secretive' })).rejects.toMatchObject({ code: 'E_BAD_PAYLOAD' });

  // The private key, recovered the only way the host can: with the master key the test holds.
  const record = (await node.store.get(partitionOf('secretive', cluster.partitions), 'secretive'))!;
  const masterHex = cluster.masterKey.split(':')[1]!;
  const priv = openOnHost(record.sealed, { vaultId: 'secretive', account: record.account }, Buffer.from(masterHex, 'hex'))!;
  expect(priv).not.toBeNull();
  expect(record.publicKey).toEqual(Uint8Array.from(Buffer.from(v.publicKey, 'hex')));

  const text = lines.join('');
  expect(lines.length).toBeGreaterThan(10); // debug logging really ran
  for (const secret of [password, masterHex, Buffer.from(priv).toString('hex'), Buffer.from(priv).toString('base64')]) {
    expect(text).not.toContain(secret);
  }
});
