// The names of the chain-native schemes, apart from their code so that producers (hway/client) and
// payload checks can name them without loading viem or the IPLD codecs.
export const SCHEMES = ['eth-personal', 'eth-typed', 'eth-tx', 'fil-message'] as const;
export type Scheme = (typeof SCHEMES)[number];

export function isScheme(s: unknown): s is Scheme {
  return typeof s === 'string' && (SCHEMES as readonly string[]).includes(s);
}
