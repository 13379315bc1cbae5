import { pattern, refined, type Codec } from './codec.js';

const REDACTED = '[redacted]';

/**
 * A plaintext password or AccessSecret in memory. It prints, serializes and inspects as
 * `[redacted]`, so an object that holds one can be logged or thrown without leaking it;
 * only `reveal()` gives the value, and only the crypto edge calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}

export const secretText = (name: string, min: number, max: number): Codec<Secret> =>
  refined(
    name,
    (u) => (u instanceof Secret ? u : typeof u === 'string' && u.length >= min && u.length <= max ? new Secret(u) : undefined),
    `must be ${min}–${max} characters`,
  );

/** AES-256-GCM output as API.md writes it: `v1.` + base64url(12-byte IV) + `.` + base64url(ciphertext+tag). */
export type Sealed = string;
export const Sealed = pattern('Sealed', /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/, 'must be a sealed value (v1.<iv>.<ciphertext>)');

export const Sha256Hex = pattern('Sha256Hex', /^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
export const Sha1Hex = pattern('Sha1Hex', /^[0-9a-f]{40}$/, 'must be 40 lowercase hex digits');
