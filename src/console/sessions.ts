// Signed-in people, in this process's memory: a random id in an HttpOnly, Secure,
// SameSite=Strict cookie, and a CSRF token per session that every form carries. A restart
// signs everyone out, which is what an operator expects of a console holding secrets.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './accounts.js';

export interface ConsoleSession {
  readonly id: string;
  readonly userId: string;
  readonly role: Role;
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
  /** What the last action did, shown once on the next page. */
  notice?: string | undefined;
}

/** Signed out after this long without a request, and after ABSOLUTE_MS whatever happens. */
export const IDLE_MS = 30 * 60_000;
export const ABSOLUTE_MS = 12 * 3600_000;

const token = (): string => randomBytes(32).toString('base64url');

export class Sessions {
  readonly #byId = new Map<string, ConsoleSession>();
  constructor(private readonly clock: () => number = Date.now) {}

  open(userId: string, role: Role): ConsoleSession {
    const now = this.clock();
    const session = { id: token(), userId, role, csrf: token(), createdAt: now, lastSeen: now };
    this.#byId.set(session.id, session);
    return session;
  }

  /** A session under an id of the caller's (a person named by a trusted header). */
  adopt(id: string, userId: string, role: Role): ConsoleSession {
    const now = this.clock();
    const session = { id, userId, role, csrf: token(), createdAt: now, lastSeen: now };
    this.#byId.set(id, session);
    return session;
  }

  find(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined) return undefined;
    const session = this.#byId.get(id);
    if (session === undefined) return undefined;
    const now = this.clock();
    if (now - session.lastSeen > IDLE_MS || now - session.createdAt > ABSOLUTE_MS) {
      this.#byId.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  close(id: string): void {
    this.#byId.delete(id);
  }

  /** Forgets sessions that ended without being looked up again. */
  sweep(): void {
    for (const id of [...this.#byId.keys()]) this.find(id);
  }
}

export const sameToken = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Failed sign-ins per user name (guessing one password) and per client address (trying many
 * names): past its limit within `windowMs`, a key is refused until the window has passed,
 * right password or not. An address gets more tries than a name: people share addresses.
 */
export class SignInLimiter {
  readonly #failures = new Map<string, number[]>();
  constructor(
    private readonly limits = { user: 5, address: 30 },
    private readonly windowMs = 15 * 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  #recent(key: string): number[] {
    const since = this.clock() - this.windowMs;
    const kept = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (kept.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, kept);
    return kept;
  }

  #keys(user: string, address: string): [string, number][] {
    return [[`user:${user}`, this.limits.user], [`address:${address}`, this.limits.address]];
  }

  blocked(user: string, address: string): boolean {
    return this.#keys(user, address).some(([key, limit]) => this.#recent(key).length >= limit);
  }

  /**
   * Counted before the password is checked, so guesses sent all at once are counted as they
   * arrive; `succeeded` takes the attempt back.
   */
  attempt(user: string, address: string): void {
    for (const [key] of this.#keys(user, address)) this.#failures.set(key, [...this.#recent(key), this.clock()]);
  }

  succeeded(user: string, address: string): void {
    for (const [key] of this.#keys(user, address)) this.#failures.set(key, this.#recent(key).slice(0, -1));
  }

  /** Forgets keys whose failures are all older than the window. */
  sweep(): void {
    for (const key of [...this.#failures.keys()]) this.#recent(key);
  }
}
