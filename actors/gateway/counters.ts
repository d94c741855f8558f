// The gateway node's counters, shared by its handshake, request and dispatch modules and read
// synchronously by `Gateway.stats()` (the node's /metrics and `hway status`).

export interface GatewayStats {
  requests: number;
  signed: number;
  proofs: number;
  failovers: number;
  refused: number;
  handshakes: number;
  malformed: number;
  evicted: number;
  inFlight: number;
  /** Producer requests answered, by outcome: 'ok' or the error code (E_RATE_LIMITED: refused by a rate limit). */
  outcomes: Record<string, number>;
}

export type CounterName = Exclude<keyof GatewayStats, 'inFlight' | 'outcomes'>;

export class GatewayCounters {
  readonly n: Record<CounterName, number> = { requests: 0, signed: 0, proofs: 0, failovers: 0, refused: 0, handshakes: 0, malformed: 0, evicted: 0 };
  private readonly outcomes: Record<string, number> = {};

  /** Counts a producer request's answer: 'ok' or its error code. */
  outcome(code: string): void {
    this.outcomes[code] = (this.outcomes[code] ?? 0) + 1;
  }

  snapshot(inFlight: number): GatewayStats {
    return { ...this.n, inFlight, outcomes: { ...this.outcomes } };
  }
}
