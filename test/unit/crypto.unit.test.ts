import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ACCESS_SECRET_LENGTH, generateAccessId, generateAccessSecret, issueKey, SealingError, SealingKey, verifiersOf } from '../../src/crypto.js';
import { AccessId, IssuedKey, Sealed, Secret } from '../../domain/index.js';

describe('AccessKey pairs', () => {
  it('AccessIDs are 24 alphanumerics and do not repeat', () => {
    const ids = Array.from({ length: 10_000 }, generateAccessId);
    for (const id of ids.slice(0, 100)) expect(AccessId.is(id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('AccessSecrets are 40 alphanumerics: at least 190 bits', () => {
    const secret = generateAccessSecret().reveal();
    expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(ACCESS_SECRET_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(190);
  });

  it('use every character of the alphabet, with no visible bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const ch of generateAccessSecret().reveal()) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 80,000 draws over 62 symbols: about 1,290 each; a modulo bias or a stuck generator lands far outside.
    for (const n of counts.values()) expect(n).toBeGreaterThan(1000);
  });

  it('an issued key is what the domain records, and its secret opens from the seal', () => {
    const master = SealingKey.generate();
    const { key, secret } = issueKey(master);
    expect(IssuedKey.is(key)).toBe(true);
    expect(master.unseal(key.secretSealed).reveal()).toBe(secret.reveal());
    expect(key.verifiers).toEqual(verifiersOf(secret));
  });
});

describe('verifiers', () => {
  it('mysqlNative is SHA1(SHA1(secret)), what MySQL stores for mysql_native_password', () => {
    // MySQL's PASSWORD('password') is *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19.
    expect(verifiersOf(new Secret('password')).mysqlNative).toBe('2470c0c06dee42fd1618bb99005adca2ec9d1e19');
  });

  it('sha256 is the hex SHA-256 of the secret', () => {
    expect(verifiersOf(new Secret('abc')).sha256).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('sealing', () => {
  const key = SealingKey.generate();

  it('round-trips, in the v1.<iv>.<ciphertext> form of API.md, differently each time', () => {
    const a = key.seal(new Secret('db-password-ü'));
    const b = key.seal(new Secret('db-password-ü'));
    expect(Sealed.is(a)).toBe(true);
    expect(a).not.toBe(b);
    expect(key.unseal(a).reveal()).toBe('db-password-ü');
  });

  it('refuses an altered value or another key, without repeating the value', () => {
    const sealed = key.seal(new Secret('db-password'));
    const [v, iv, body] = sealed.split('.') as [string, string, string];
    const flipped = `${v}.${iv}.${body.slice(0, 5)}${body[5] === 'A' ? 'B' : 'A'}${body.slice(6)}`;
    for (const attempt of [() => key.unseal(flipped), () => SealingKey.generate().unseal(sealed), () => key.unseal('v2.x.y')]) {
      expect(attempt).toThrow(SealingError);
      try {
        attempt();
      } catch (e) {
        expect((e as Error).message).not.toContain(body);
      }
    }
  });

  it('keys must be 256 bits and never print', () => {
    expect(() => SealingKey.fromBase64(Buffer.alloc(16).toString('base64'))).toThrow(/32 bytes/);
    const raw = Buffer.alloc(32, 7);
    const printed = [inspect(new SealingKey(raw)), JSON.stringify({ k: new SealingKey(raw) }), String(new SealingKey(raw))].join(' ');
    expect(printed).not.toContain(raw.toString('base64'));
    expect(printed).not.toContain(raw.toString('hex'));
  });

  it('secrets never print either', () => {
    const s = new Secret('hunter2-hunter2');
    expect([inspect({ s }), JSON.stringify({ s }), String(s)].join(' ')).not.toContain('hunter2');
  });
});
