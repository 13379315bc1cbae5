import { integer, literal, oneOf, pattern, struct, tagged, text } from './codec.js';
import { Sealed, secretText } from './secret.js';

// MariaDB allows user names of up to 80 characters (MySQL 32); the proxy passes them on as they are.
export const DbUsername = text('DbUsername', 1, 80);

/** A database account as a request gives it: the password in plaintext, wrapped so it cannot leak. */
export const AccountRequest = struct('DatabaseAccount', { username: DbUsername, password: secretText('DbPassword', 1, 1024) });
export type AccountRequest = typeof AccountRequest._A;

/** A database account as recorded: the password sealed under the master key. */
export const SealedAccount = struct('SealedAccount', { username: DbUsername, passwordSealed: Sealed });
export type SealedAccount = typeof SealedAccount._A;

/** Which account a grant's key opens: the proxy's own, or one given for this user. */
export const GrantAccount = tagged('GrantAccount', 'kind', {
  proxy: struct('ProxyAccount', { kind: literal('proxy'), username: DbUsername }),
  custom: struct('CustomAccount', { kind: literal('custom'), username: DbUsername, passwordSealed: Sealed }),
});
export type GrantAccount = typeof GrantAccount._A;

export const Endpoint = struct('Endpoint', {
  kind: oneOf('EndpointKind', ['public', 'private']),
  host: pattern('Host', /^[A-Za-z0-9.:[\]-]{1,253}$/, 'must be a host name or IP address'),
  port: integer('Port', 1, 65535),
});
export type Endpoint = typeof Endpoint._A;
