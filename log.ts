// Structured JSON logging (winston), one child logger per component with node/vault/task fields.
// Callers pass identifiers only; a secret never goes into a log call (tests grep the logs for them).
import winston from 'winston';

export type Logger = winston.Logger;

// Embedded in someone else's service, Highway logs only warnings and errors unless asked
// (HWAY_LOG_LEVEL, or a logger passed in); `hway start` runs a node as its own service and logs info.
let defaultLevel = 'warn';

let root: winston.Logger | undefined;

/** The level used when HWAY_LOG_LEVEL is not set; call before the first log line (the CLI does). */
export function setDefaultLogLevel(level: string): void {
  defaultLevel = level;
}

/** The process-wide logger: JSON lines on stderr, so that stdout stays for command output. */
export function rootLogger(): winston.Logger {
  root ??= winston.createLogger({
    level: process.env.HWAY_LOG_LEVEL ?? defaultLevel,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
  return root;
}

/** Replace the root logger (tests capture logs; the CLI sets the level). */
export function setRootLogger(logger: winston.Logger): void {
  root = logger;
}

export function logger(component: string, fields: Record<string, string | number> = {}): winston.Logger {
  return levelGuarded(rootLogger().child({ component, ...fields }));
}

const GUARDED = Symbol('hway.levelGuarded');
type Method = ((this: winston.Logger, ...args: unknown[]) => unknown) & { [GUARDED]?: true };

/**
 * winston runs its whole format (a timestamp, the metadata merged, safe-stable-stringify) for every
 * call and drops a line below the level only at the transport: a `debug` per vault operation cost a
 * JSON serialisation per sign at the default level (bench:profile). Each level method of the logger
 * (and of its children) first asks `isLevelEnabled`, a comparison of two numbers, and returns at once
 * when the line would be dropped anyway. The level is read at each call, so changing it still works.
 */
function levelGuarded(l: winston.Logger): winston.Logger {
  const methods = l as unknown as Record<string, Method>;
  for (const level of [...Object.keys(l.levels), 'child']) {
    const original = methods[level];
    // A child inherits its parent's guarded methods: they act on `this`, so they are not wrapped again.
    if (typeof original !== 'function' || original[GUARDED]) continue;
    const guarded: Method =
      level === 'child'
        ? function (this: winston.Logger, ...args: unknown[]) {
            return levelGuarded(original.apply(this, args) as winston.Logger);
          }
        : function (this: winston.Logger, ...args: unknown[]) {
            return this.isLevelEnabled(level) ? original.apply(this, args) : this;
          };
    guarded[GUARDED] = true;
    methods[level] = guarded;
  }
  return l;
}
