// A bound on waiting, not on the work: resolves as `p` does, or rejects with E_TIMEOUT after `ms`
// (`p` itself is left to finish). For calls whose answer stops mattering after a while (a lease
// release on stop, a metrics read).
import { HwayError } from '../errors.js';

export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new HwayError('E_TIMEOUT', `no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
