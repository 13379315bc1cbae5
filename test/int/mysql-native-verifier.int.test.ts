// The mysqlNative verifier is only useful if it is exactly what a MySQL-protocol server
// checks a mysql_native_password login against. Ask the real MariaDB this machine runs.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateAccessSecret, verifiersOf } from '../../src/crypto.js';

const run = promisify(execFile);
const MARIADB = ['-uroot', '-h127.0.0.1', '-P3306', '--batch', '--skip-column-names'];

describe('the mysqlNative verifier against MariaDB', () => {
  it('equals the hash MariaDB stores for mysql_native_password, for generated AccessSecrets', async () => {
    const secrets = Array.from({ length: 5 }, generateAccessSecret);
    // AccessSecrets are alphanumeric, so quoting them in SQL needs no escaping.
    const sql = secrets.map((s) => `SELECT PASSWORD('${s.reveal()}');`).join('\n');
    const { stdout } = await run('mariadb', [...MARIADB, '-e', sql]);
    const stored = stdout.trim().split('\n');
    expect(stored).toEqual(secrets.map((s) => `*${verifiersOf(s).mysqlNative.toUpperCase()}`));
  });
});
