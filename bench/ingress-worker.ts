// The consuming side of bench/ingress.ts in its own process (as in production, where producers are
// other services): a Highway node or a BullMQ worker with a no-op handler. Prints "ready" on stdout
// once it consumes, and stops on SIGTERM.
//   node --import tsx bench/ingress-worker.ts hway|bullmq <redis-url> <prefix-or-queue> <concurrency>
import { Worker } from 'bullmq';
import winston from 'winston';
import { createIngress } from '../actors/ingress/index.js';

const [system, redisUrl, name, conc] = process.argv.slice(2) as [string, string, string, string];
const concurrency = Number(conc);
const quiet = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });

let stop: () => Promise<void>;
if (system === 'hway') {
  const ingress = createIngress({ redis: redisUrl, prefix: name, concurrency, logger: quiet, handlers: { noop: async () => null } });
  await ingress.start();
  stop = () => ingress.stop();
} else {
  const url = new URL(redisUrl);
  const worker = new Worker(name, async () => null, {
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null },
    concurrency,
  });
  await worker.waitUntilReady();
  stop = () => worker.close();
}
process.once('SIGTERM', () => {
  void stop().finally(() => process.exit(0));
});
process.stdout.write('ready\n');
