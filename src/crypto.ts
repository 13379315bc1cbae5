// Key material and sealing. AccessSecrets and database passwords are sealed with AES-256-GCM
// before anything records them; events carry only sealed values and verifiers.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Secret, type IssuedKey, type Sealed, type Verifiers } from '../domain/index.js';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const ACCESS_ID_LENGTH = 24;
/** 40 characters of 62 give 238 bits, above DESIGN.md's 190. */
export const ACCESS_SECRET_LENGTH = 40;

/**
 * Uniform over the alphabet: bytes of 248 and above are dropped (248 = 4 × 62), so the
 * modulo has no bias.
 */
const randomAlphanumeric = (length: number): string => {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length + 8)) {
      if (byte < 248 && out.length < length) out += ALPHANUMERIC.charAt(byte % 62);
    }
  }
  return out;
};

export const generateAccessId = (): string => randomAlphanumeric(ACCESS_ID_LENGTH);
export const generateAccessSecret = (): Secret => new Secret(randomAlphanumeric(ACCESS_SECRET_LENGTH));

export class SealingError extends Error {
  override readonly name = 'SealingError';
}

/** A 256-bit AES key. Like Secret, it never prints. */
export class SealingKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new SealingError(`a sealing key must be 32 bytes, not ${key.length}`);
    this.#key = Buffer.from(key);
  }

  /** From the base64 (or base64url) text of a setting such as KEYWARD_MASTER_KEY. */
  static fromBase64(text: string): SealingKey {
    return new SealingKey(Buffer.from(text, 'base64'));
  }

  static generate(): SealingKey {
    return new SealingKey(randomBytes(32));
  }

  /** The key's text form, for the one place that stores it (the development key file). */
  exportBase64(): string {
    return this.#key.toString('base64');
  }

  seal(plaintext: Secret): Sealed {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext.reveal(), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  unseal(sealed: Sealed): Secret {
    const [version, iv, body] = sealed.split('.');
    if (version !== 'v1' || iv === undefined || body === undefined) throw new SealingError('not a sealed value of version v1');
    const bytes = Buffer.from(body, 'base64url');
    if (bytes.length < 16) throw new SealingError('the sealed value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return new Secret(Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8'));
    } catch {
      // The cause would only say "unable to authenticate data"; the value is not repeated.
      throw new SealingError('the sealed value does not open with this key (wrong key, or it was altered)');
    }
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'SealingKey [redacted]';
  }
}

const sha1 = (data: Buffer | string): Buffer => createHash('sha1').update(data).digest();

/** SHA-256 for protocols that send the secret itself; SHA1(SHA1()) for mysql_native_password. */
export const verifiersOf = (secret: Secret): Verifiers => ({
  sha256: createHash('sha256').update(secret.reveal(), 'utf8').digest('hex'),
  mysqlNative: sha1(sha1(Buffer.from(secret.reveal(), 'utf8'))).toString('hex'),
});

/** A new AccessKey pair: the domain's view of it, and the plaintext secret for the caller only. */
export const issueKey = (masterKey: SealingKey): { readonly key: IssuedKey; readonly secret: Secret } => {
  const secret = generateAccessSecret();
  return { key: { accessId: generateAccessId(), secretSealed: masterKey.seal(secret), verifiers: verifiersOf(secret) }, secret };
};
