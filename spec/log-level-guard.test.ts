// A log call below the level returns before winston formats anything (the format would otherwise run
// a JSON serialisation per call: one per vault operation at the default level); at or above the level
// the line is written as before, for the component's logger and its children, and a level changed
// later is honoured.
import { afterAll, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import winston from 'winston';
import { logger, rootLogger, setRootLogger } from '../log.js';

const previous = rootLogger();
afterAll(() => setRootLogger(previous));

function counting(level: string): { formatted: () => number; lines: string[] } {
  let formatted = 0;
  const lines: string[] = [];
  const count = winston.format((info) => {
    formatted++;
    return info;
  });
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  setRootLogger(winston.createLogger({ level, format: winston.format.combine(count(), winston.format.json()), transports: [new winston.transports.Stream({ stream: sink })] }));
  return { formatted: () => formatted, lines };
}

test('below the level nothing is formatted; at the level the line is written with its fields', async () => {
  const c = counting('info');
  const log = logger('vault', { node: 'n1' });
  const child = log.child({ vault: 'v1' });
  log.debug('not written', { a: 1 });
  child.debug('not written either', { b: 2 });
  child.verbose('nor this');
  expect(c.formatted()).toBe(0);

  child.info('written', { op: 'sign' });
  log.warn('also written');
  await new Promise((r) => setImmediate(r));
  expect(c.formatted()).toBe(2);
  const first = JSON.parse(c.lines[0]!) as Record<string, unknown>;
  expect(first).toMatchObject({ level: 'info', message: 'written', component: 'vault', node: 'n1', vault: 'v1', op: 'sign' });
  expect(JSON.parse(c.lines[1]!)).toMatchObject({ level: 'warn', message: 'also written', component: 'vault' });
});

test('the level is read at each call: lowering it lets debug lines through', async () => {
  const c = counting('warn');
  const log = logger('ingress').child({ task: 't1' });
  log.info('dropped');
  expect(c.formatted()).toBe(0);
  rootLogger().level = 'debug';
  log.debug('kept', { n: 3 });
  await new Promise((r) => setImmediate(r));
  expect(c.formatted()).toBe(1);
  expect(JSON.parse(c.lines[0]!)).toMatchObject({ level: 'debug', message: 'kept', component: 'ingress', task: 't1', n: 3 });
});
