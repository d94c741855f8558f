// The benchmark regression guard (bench/compare.ts): which figures count as worse, and by how much.
import { expect, test } from '@jest/globals';
import { compare, direction } from '../bench/compare.js';

test('rates are better higher, latencies and memory lower, other names are never flagged', () => {
  expect(direction('runs.hway-10.closed.rate')).toBe('higher');
  expect(direction('ratios.c50')).toBe('higher');
  expect(direction('runs.hway-10.closed.p99')).toBe('lower');
  expect(direction('vaults.rssKiBPerVault')).toBe('lower');
  expect(direction('c50.on.0.cpuUs')).toBe('lower');
  expect(direction('vaults.count')).toBe('unknown');
});

test('a figure more than the threshold worse is flagged, in either direction; within it, not', () => {
  const before = { runs: { a: { closed: { rate: 1000, p99: 10 } } }, vaults: { count: 10_000, rssKiBPerVault: 100 } };
  const after = { runs: { a: { closed: { rate: 890, p99: 10.5 } } }, vaults: { count: 5, rssKiBPerVault: 120 } };
  const byName = Object.fromEntries(compare(before, after, 0.1).map((c) => [c.figure, c]));
  expect(byName['runs.a.closed.rate']).toMatchObject({ regressed: true, ratio: 0.89 });
  expect(byName['runs.a.closed.p99']).toMatchObject({ regressed: false });
  expect(byName['vaults.rssKiBPerVault']).toMatchObject({ regressed: true });
  expect(byName['vaults.count']).toMatchObject({ regressed: false, direction: 'unknown' });
  expect(compare(before, before, 0.1).some((c) => c.regressed)).toBe(false);
});
