/**
 * Optional API key (SERVE.8): `Authorization: Bearer <key>`. Both sides are hashed with SHA-256 and compared with
 * `timingSafeEqual`, so the comparison takes the same time whatever the length or content of the guess.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A checker for one key: true when the header carries it. */
export function apiKeyChecker(key: string): (authorization: string | undefined) => boolean {
  const want = sha256(key);
  return (authorization) => {
    const m = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
    const same = timingSafeEqual(want, sha256(m?.[1] ?? ''));
    return m !== null && same;
  };
}
