// Logs leave the process and are kept for long: no secret may reach them, whatever depth a
// log call happens to put it at.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../domain/secret.js';
import { createLogger } from '../../src/log.js';

const capture = () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  // pino calls write() synchronously on a plain stream, so lines are there when info() returns.
  return { lines, logger: createLogger({ destination, level: 'debug' }) };
};

const parsed = (line: string | undefined): Record<string, unknown> => JSON.parse(line ?? '{}') as Record<string, unknown>;

// Each value is unique, so a leak names the field it came from.
const secrets = {
  accessSecret: 'AS-top-0000000000000000000000000000000000',
  password: 'PW-top',
  passwordSealed: 'v1.SEALED-top',
  secretSealed: 'v1.SECRET-SEALED-top',
  body: 'BODY-top',
  payload: 'PAYLOAD-top',
};
const nested = (tag: string) => ({
  accessSecret: `AS-${tag}`,
  password: `PW-${tag}`,
  passwordSealed: `PWS-${tag}`,
  secretSealed: `SS-${tag}`,
  databaseAccount: { username: 'app', password: `DBPW-${tag}` },
  payload: `PAYLOAD-${tag}`,
  body: `BODY-${tag}`,
});
const leaks = (line: string): string[] => line.match(/(AS|PW|PWS|SS|DBPW|BODY|PAYLOAD)-[a-z0-9-]+/g) ?? [];

describe('the logger', () => {
  it('writes JSON lines with service "keyward" and an RFC 3339 time', () => {
    const { lines, logger } = capture();
    logger.info({ instanceId: 'db-1' }, 'proxy enabled');
    const line = parsed(lines[0]);
    expect(line).toMatchObject({ service: 'keyward', instanceId: 'db-1', msg: 'proxy enabled', level: 30 });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('censors every secret field at the top level, one and two levels down', () => {
    const { lines, logger } = capture();
    logger.info({
      ...secrets,
      ...nested('flat'),
      reply: { result: nested('one'), ...nested('one-b') },
      command: { request: nested('two'), grant: { databaseAccount: { password: 'DBPW-three' } } },
      req: { body: 'BODY-req', method: 'request' },
      items: [nested('array')],
    });
    expect(lines).toHaveLength(1);
    expect(leaks(lines[0] ?? '')).toEqual([]);
    for (const value of Object.values(secrets)) expect(lines[0]).not.toContain(value);
    const line = parsed(lines[0]);
    expect(line.accessSecret).toBe('[redacted]');
    expect(line.reply).toMatchObject({ result: { accessSecret: '[redacted]', databaseAccount: { username: 'app', password: '[redacted]' } } });
    expect(line.req).toEqual({ body: '[redacted]', method: 'request' });
  });

  it('leaves the objects it was given untouched', () => {
    const { logger } = capture();
    const reply = { accessSecret: 'AS-kept' };
    logger.info({ reply });
    expect(reply.accessSecret).toBe('AS-kept');
  });

  it('prints a Secret as [redacted] under any name', () => {
    const { lines, logger } = capture();
    logger.info({ anything: new Secret('PW-in-secret'), deep: { deeper: { deepest: { value: new Secret('PW-deep-secret') } } } });
    expect(lines[0]).not.toContain('PW-');
    expect(parsed(lines[0])).toMatchObject({ anything: '[redacted]', deep: { deeper: { deepest: { value: '[redacted]' } } } });
  });

  it('censors a secret carried on an error', () => {
    const { lines, logger } = capture();
    logger.error({ err: Object.assign(new Error('refused'), { password: 'PW-on-error' }) });
    expect(lines[0]).not.toContain('PW-on-error');
    expect(lines[0]).toContain('refused');
  });

  it('drops nothing below its level and writes nothing under it', () => {
    const { lines, logger } = capture();
    logger.trace('not written');
    logger.debug('written');
    expect(lines.map((line) => parsed(line).msg)).toEqual(['written']);
  });
});
