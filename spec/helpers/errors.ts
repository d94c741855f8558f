// What a promise settles to, as a stable error code ('ok' when it resolves): tests compare codes.
import { HwayError } from '../../errors.js';

export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof HwayError ? err.code : String(err);
  }
}
