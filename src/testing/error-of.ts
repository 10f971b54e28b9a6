import { isTandemError } from '../errors.js';

/** "CODE: message" of the TandemError `f` throws, or "no error"; any other exception propagates. */
export function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isTandemError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}
