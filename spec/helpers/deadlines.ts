// Deadlines in tests are for things that never finish, not for ordinary work. These are 2-core
// shared machines and CI may run while something else is busy: process start-up, a cluster becoming
// ready, a request and its answer, a fetch of content that exists, a graceful stop may all take many
// times longer than on an idle machine, and a test must not fail because of it. Every wait for
// ordinary work is therefore bounded by HANG_MS only: long enough that it fires only when the awaited
// thing never comes (and still well inside jest's testTimeout, see jest.config.js, so that the error
// says what was being waited for). Short timeouts belong only where the timeout itself is the
// behaviour under test and the awaited thing never arrives. Speed is measured by the benchmarks
// (bench/), never by timed assertions here.
export const HANG_MS = 3 * 60_000;

/**
 * A timeout longer than jest's testTimeout (the largest a timer takes, ~24.8 days): for checking,
 * without a clock, that something happens "at once" rather than when its timeout fires. A call that
 * waited for this timeout would fail the test on jest's limit instead of passing slowly.
 */
export const NEVER_MS = 2 ** 31 - 1;

/**
 * Polls `cond` until it holds. `ms` (hang-only by default) is there to turn a hang into an error that
 * names `what`; it is not a bound on how long the awaited work may take.
 */
export async function pollUntil(cond: () => boolean | Promise<boolean>, what: string, opts: { intervalMs?: number; ms?: number } = {}): Promise<void> {
  const ms = opts.ms ?? HANG_MS;
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (a hang-only deadline)`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
