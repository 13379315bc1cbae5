// Console sign-in with local accounts: a JSON file of users, roles and scrypt hashes
// (KEYWARD_CONSOLE_USERS), written by `keyward console add-user`. No password is kept, only
// `scrypt$N$r$p$salt$hash`; a check takes the same time whether or not the user exists.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export const ROLES = ['admin', 'dba', 'user'] as const;
export type Role = (typeof ROLES)[number];

export interface Account {
  readonly userId: string;
  readonly role: Role;
  readonly passwordHash: string;
}

// OWASP's floor for scrypt: N=2^17, r=8, p=1 (128 MiB of work memory per check).
const N = 1 << 17;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

const scrypt = (password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    scryptCallback(password, salt, KEY_LENGTH, { ...options, maxmem: 256 * 1024 * 1024 }, (e, key) => {
      if (e === null) resolve(key);
      else reject(e);
    });
  });

export const hashPassword = async (password: string): Promise<string> => {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
};

const parseHash = (hash: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | null => {
  const [tag, n, r, p, salt, key, ...rest] = hash.split('$');
  if (tag !== 'scrypt' || n === undefined || r === undefined || p === undefined || salt === undefined || key === undefined || rest.length > 0) return null;
  const parsed = { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
  // Nothing weaker than what hashPassword writes, and nothing that would take the process down.
  const sane = Number.isInteger(Math.log2(parsed.N)) && parsed.N >= 1 << 14 && parsed.N <= 1 << 20 && parsed.r >= 1 && parsed.r <= 16 && parsed.p >= 1 && parsed.p <= 4;
  return sane && parsed.salt.length >= 16 && parsed.key.length === KEY_LENGTH ? parsed : null;
};

// Checked against when the user does not exist, so the answer takes as long either way.
let decoy: Promise<string> | undefined;

/** Makes the decoy now, so not even the first unknown user's sign-in takes longer. */
export const prepareDecoy = (): Promise<string> => (decoy ??= hashPassword(randomBytes(16).toString('hex')));

export const verifyPassword = async (hash: string | undefined, password: string): Promise<boolean> => {
  const parsed = parseHash(hash ?? (await prepareDecoy()));
  if (parsed === null) return false;
  const key = await scrypt(password, parsed.salt, { N: parsed.N, r: parsed.r, p: parsed.p });
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key) && hash !== undefined;
};

// The API's userId form: the signed-in person is the actor of every command.
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const isUserId = (text: string): boolean => USER_ID.test(text);

export const readAccounts = (path: string): Account[] => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not JSON: it should be a console accounts file ({"users": [...]})`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { users?: unknown }).users)) throw new Error(`${path} is not a console accounts file ({"users": [...]})`);
  const users = (parsed as { users: unknown[] }).users;
  return users.map((u: unknown, i) => {
    const a = (typeof u === 'object' && u !== null ? u : {}) as Partial<Account>;
    if (typeof a.userId !== 'string' || !isUserId(a.userId) || !ROLES.includes(a.role as Role) || typeof a.passwordHash !== 'string' || parseHash(a.passwordHash) === null) {
      throw new Error(`${path}: user ${i + 1} is not {userId, role: admin|dba|user, passwordHash}`);
    }
    return { userId: a.userId, role: a.role as Role, passwordHash: a.passwordHash };
  });
};

/** Adds or replaces one user; the file is replaced whole, never left half written. */
export const writeAccount = (path: string, account: Account): void => {
  const users = readAccounts(path).filter((a) => a.userId !== account.userId);
  const next = `${path}.${process.pid}.tmp`;
  writeFileSync(next, `${JSON.stringify({ users: [...users, account] }, null, 2)}\n`, { mode: 0o600 });
  renameSync(next, path);
};
