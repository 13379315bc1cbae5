// The two ways a client proves it holds the AccessSecret, checked against KV's verifiers
// (API.md) without the node ever storing the secret. Digests are compared with
// timingSafeEqual, so the time taken says nothing about how much of a guess was right.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../../domain/index.js';

/** The verifiers of one KV value, decoded once when the value arrives. */
export interface StoredVerifiers {
  readonly sha256: Buffer;
  /** SHA1(SHA1(secret)): what MySQL stores for mysql_native_password. */
  readonly mysqlNative: Buffer;
}

export type Proof = (stored: StoredVerifiers) => boolean;

const sha1 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

// Small Buffers are slices of a shared 8 KiB pool; kept for a key's lifetime, each would hold
// a whole pool block alive. A cache of 100,000 keys keeps its own bytes only.
const unpooled = (hex: string): Buffer => {
  const bytes = Buffer.allocUnsafeSlow(hex.length / 2);
  bytes.write(hex, 'hex');
  return bytes;
};

export const storedVerifiers = (sha256Hex: string, mysqlNativeHex: string): StoredVerifiers => ({
  sha256: unpooled(sha256Hex),
  mysqlNative: unpooled(mysqlNativeHex),
});

export const secretProof =
  (accessSecret: string | Secret): Proof =>
  (stored) => {
    const presented = typeof accessSecret === 'string' ? accessSecret : accessSecret.reveal();
    return timingSafeEqual(createHash('sha256').update(presented, 'utf8').digest(), stored.sha256);
  };

/**
 * The client sent scramble = SHA1(p) XOR SHA1(salt + SHA1(SHA1(p))). XOR with
 * SHA1(salt + stored) gives back SHA1(p), whose SHA1 must be the stored SHA1(SHA1(p)).
 */
export const mysqlNativeProof =
  (salt: Buffer, scramble: Buffer): Proof =>
  (stored) => {
    if (scramble.length !== 20 || stored.mysqlNative.length !== 20) return false;
    const mask = sha1(salt, stored.mysqlNative);
    const candidate = Buffer.alloc(20);
    for (let i = 0; i < 20; i++) candidate[i] = (scramble[i] ?? 0) ^ (mask[i] ?? 0);
    return timingSafeEqual(sha1(candidate), stored.mysqlNative);
  };
