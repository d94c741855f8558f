// Regression guard for benchmark figures: compares two `--json` outputs of the same benchmark (e.g.
// `npm run bench:pipeline -- --json > before.json`, then after a change `> after.json`) and flags
// every figure that got more than --threshold (default 10%) worse. Not a test: a tool for the next
// person, run by hand on the same machine, ideally back to back (these machines are noisy).
//   node --import tsx bench/compare.ts before.json after.json [--threshold 0.1] [--json]
// Which way is worse is read from the figure's name: rates and ratios (signs/s, rate, ratio, …) are
// better higher; latencies, times, memory and CPU (ms, p50, p99, Us, KiB, rss, …) better lower.
// Figures of any other name are listed but never flagged. Exit 1 when something regressed.
import { readFileSync } from 'node:fs';
import { fmt, table, wantsJson, type Row } from './report.js';

type Direction = 'higher' | 'lower' | 'unknown';

export function direction(path: string): Direction {
  const leaf = path.split('.').pop()!.toLowerCase();
  if (/(^|[^a-z])(rate|ratio|ratios|c10|c50|persec|signs|tput|throughput)$|\/s$|^on$|^off$/.test(leaf)) return 'higher';
  if (/(p50|p90|p99|ms|us|kib|rss|seconds|latency|cpuus|overhead)/.test(leaf)) return 'lower';
  return 'unknown';
}

/** Every numeric leaf of a JSON value, by dotted path (array items by index). */
export function figures(v: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof v === 'number' && Number.isFinite(v)) out.set(path, v);
  else if (Array.isArray(v)) v.forEach((x, i) => figures(x, path ? `${path}.${i}` : String(i), out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) figures(x, path ? `${path}.${k}` : k, out);
  return out;
}

export interface Change {
  figure: string;
  before: number;
  after: number;
  /** after / before. */
  ratio: number;
  direction: Direction;
  regressed: boolean;
}

export function compare(before: unknown, after: unknown, threshold: number): Change[] {
  const a = figures(before);
  const b = figures(after);
  const out: Change[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y === undefined || x === 0) continue;
    const ratio = y / x;
    const dir = direction(k);
    const regressed = (dir === 'higher' && ratio < 1 - threshold) || (dir === 'lower' && ratio > 1 + threshold);
    out.push({ figure: k, before: x, after: y, ratio, direction: dir, regressed });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--') && !/^\d*\.?\d+$/.test(a));
  const ti = process.argv.indexOf('--threshold');
  const threshold = ti > 0 ? Number(process.argv[ti + 1]) : 0.1;
  if (files.length !== 2 || !(threshold > 0)) {
    process.stderr.write('usage: bench/compare.ts before.json after.json [--threshold 0.1] [--json]\n');
    process.exit(2);
  }
  // A benchmark's --json output is its last line (progress goes to stderr, but be lenient).
  const load = (f: string): unknown => JSON.parse(readFileSync(f, 'utf8').trim().split('\n').pop()!);
  const changes = compare(load(files[0]!), load(files[1]!), threshold);
  const bad = changes.filter((c) => c.regressed);
  if (wantsJson()) console.log(JSON.stringify({ threshold, regressed: bad, changes }));
  else {
    const rows: Row[] = changes.map((c) => ({ figure: c.figure, before: c.before, after: c.after, 'after/before': fmt(c.ratio, 3), better: c.direction, flag: c.regressed ? 'WORSE' : '' }));
    console.log(table(`${files[0]} → ${files[1]} (flag: more than ${fmt(threshold * 100)}% worse)`, rows));
    console.log(bad.length === 0 ? 'no regression' : `${bad.length} figure(s) regressed`);
  }
  process.exit(bad.length === 0 ? 0 : 1);
}
