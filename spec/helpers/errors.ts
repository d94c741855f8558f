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

/** The HwayError a promise rejects with, as code and message; a resolved promise or another error fails the test. */
export async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HwayError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal, got a result');
}
