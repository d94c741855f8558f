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
  return rootLogger().child({ component, ...fields });
}
