// Benchmarks print a table for people and, with --json, one JSON object for machines. Figures are
// compared as ratios against a baseline measured in the same run (these machines are shared and noisy).

export type Row = Record<string, string | number>;

export const wantsJson = (): boolean => process.argv.includes('--json');

/** A numeric flag `--name N` of this command line, or `dflt`. */
export function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function table(title: string, rows: Row[]): string {
  if (rows.length === 0) return `${title}\n(no rows)`;
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? fmt(v, Number.isInteger(v) ? 0 : 2) : (v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [title, line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** Runs `op` with `inFlight` concurrent chains for `ms` milliseconds; returns operations per second. */
export async function throughput(op: () => Promise<unknown>, ms: number, inFlight: number): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        await op();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** Runs a synchronous `op` for `ms` milliseconds; returns operations per second. */
export function throughputSync(op: () => unknown, ms: number): number {
  let done = 0;
  const started = performance.now();
  const until = started + ms;
  while (performance.now() < until) {
    for (let i = 0; i < 16; i++) op();
    done += 16;
  }
  return done / ((performance.now() - started) / 1000);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
