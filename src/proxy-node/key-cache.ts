// The node's memory of the KV bucket: the latest value of every watched key, and the rules
// that answer a verification from it. No I/O here but timers, so the rules are easy to follow:
//  - a revoked value is final: a later `active` for the same key (a lagging writer) is ignored,
//    and a delete does not forget it (DESIGN.md: a revoked AccessID never works again);
//  - `notAfter` is judged by the node's own clock, with one timer per key so a proxy hears of
//    an expiry even when NATS is gone;
//  - whatever cannot be read refuses, never accepts.
import { KeyValue, kvKey, type ActiveKeyValue } from '../keys/kv.js';
import type { Secret } from '../../domain/index.js';
import type { SealingKey } from '../crypto.js';
import { storedVerifiers, type Proof, type StoredVerifiers } from './proofs.js';
import { Refusal, type Invalidated, type VerifyResult } from './types.js';

export interface KvChange {
  readonly key: string;
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
  readonly value: Uint8Array;
}

export type Applied =
  | { readonly kind: 'unchanged' | 'active' | 'deleted' | 'ignored-after-revoke' | 'unusable' }
  | { readonly kind: 'revoked'; readonly instanceId: string; readonly accessId: string };

interface Seen {
  readonly revision: number;
  /** The load (generation) that last delivered it, to forget keys a reload no longer has. */
  seenIn: number;
}

interface ActiveEntry extends Seen {
  readonly kind: 'active';
  readonly value: ActiveKeyValue;
  readonly verifiers: StoredVerifiers;
  readonly notAfterMs: number | null;
  /** Valid when it arrived and not invalidated since: what `invalidated` is emitted for. */
  valid: boolean;
  /** Unsealed on the first accepted verification of this value, then kept with it. */
  password?: Secret;
}

type Entry = ActiveEntry | (Seen & { readonly kind: 'revoked'; readonly reason: string }) | (Seen & { readonly kind: 'unusable' });

export interface KeyCacheHooks {
  readonly invalidated: (event: Invalidated) => void;
  readonly unsealFailed: (instanceId: string, accessId: string) => void;
}

// setTimeout holds at most 2^31-1 ms (24.8 days); a later notAfter is re-armed on the way.
const MAX_TIMER_MS = 2 ** 31 - 1;

const utf8 = new TextDecoder();

const decode = (bytes: Uint8Array): KeyValue | { readonly state: 'unreadable'; readonly claimsRevoked: boolean } => {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(bytes));
  } catch {
    raw = undefined;
  }
  const decoded = KeyValue.decode(raw);
  if (decoded._tag === 'Right') return decoded.right;
  return { state: 'unreadable', claimsRevoked: typeof raw === 'object' && raw !== null && (raw as { state?: unknown }).state === 'revoked' };
};

export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #proxyKey: SealingKey;
  readonly #clock: () => number;
  readonly #hooks: KeyCacheHooks;

  constructor(proxyKey: SealingKey, clock: () => number, hooks: KeyCacheHooks) {
    this.#proxyKey = proxyKey;
    this.#clock = clock;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#entries.size;
  }

  get activeCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.kind === 'active') n++;
    return n;
  }

  apply(change: KvChange, generation: number): Applied {
    const prev = this.#entries.get(change.key);
    if (prev !== undefined && prev.revision === change.revision) {
      prev.seenIn = generation;
      return { kind: 'unchanged' };
    }
    if (prev?.kind === 'revoked') {
      prev.seenIn = generation;
      return { kind: change.operation === 'PUT' ? 'ignored-after-revoke' : 'unchanged' };
    }
    const seen = { revision: change.revision, seenIn: generation };
    if (change.operation !== 'PUT') {
      this.#forget(change.key, 'deleted');
      return { kind: 'deleted' };
    }
    const value = decode(change.value);
    if (value.state === 'unreadable' || change.key !== kvKey(value.instanceId, value.accessId)) {
      const claimsRevoked = value.state === 'revoked' || (value.state === 'unreadable' && value.claimsRevoked);
      this.#replace(change.key, claimsRevoked ? { kind: 'revoked', reason: 'unreadable', ...seen } : { kind: 'unusable', ...seen }, Refusal.UNUSABLE_VALUE);
      return { kind: 'unusable' };
    }
    if (value.state === 'revoked') {
      this.#replace(change.key, { kind: 'revoked', reason: value.reason, ...seen }, value.reason);
      return { kind: 'revoked', instanceId: value.instanceId, accessId: value.accessId };
    }
    const notAfterMs = value.notAfter === null ? null : Date.parse(value.notAfter);
    const entry: ActiveEntry = {
      kind: 'active',
      value,
      verifiers: storedVerifiers(value.verifiers.sha256, value.verifiers.mysqlNative),
      notAfterMs,
      valid: notAfterMs === null || this.#clock() < notAfterMs,
      ...seen,
    };
    this.#replace(change.key, entry, Refusal.EXPIRED);
    this.#arm(change.key, entry);
    return { kind: 'active' };
  }

  /** After a full reload: keys it no longer delivered are gone from KV (revoked ones stay). */
  sweep(generation: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.kind !== 'revoked' && entry.seenIn < generation) this.#forget(key, 'deleted');
    }
  }

  verify(instanceId: string, accessId: string, proof: Proof): VerifyResult {
    const key = kvKey(instanceId, accessId);
    const entry = this.#entries.get(key);
    if (entry === undefined) return { ok: false, reason: Refusal.UNKNOWN_KEY };
    if (entry.kind === 'revoked') return { ok: false, reason: Refusal.REVOKED, revokedReason: entry.reason };
    if (entry.kind === 'unusable') return { ok: false, reason: Refusal.UNUSABLE_VALUE };
    if (entry.notAfterMs !== null && this.#clock() >= entry.notAfterMs) {
      // The timer may not have fired yet (an injected clock, a busy loop): tell listeners now.
      this.#invalidate(entry, 'expired');
      return { ok: false, reason: Refusal.EXPIRED };
    }
    if (!proof(entry.verifiers)) return { ok: false, reason: Refusal.WRONG_SECRET };
    if (entry.password === undefined) {
      try {
        entry.password = this.#proxyKey.unseal(entry.value.databaseAccount.passwordSealed);
      } catch {
        this.#replace(key, { kind: 'unusable', revision: entry.revision, seenIn: entry.seenIn }, Refusal.UNUSABLE_VALUE);
        this.#hooks.unsealFailed(instanceId, accessId);
        return { ok: false, reason: Refusal.UNUSABLE_VALUE };
      }
    }
    const { userId, databaseAccount } = entry.value;
    return { ok: true, instanceId, accessId, userId, databaseAccount: { username: databaseAccount.username, password: entry.password } };
  }

  dispose(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #replace(key: string, next: Entry, reasonIfInvalidated: string): void {
    const prev = this.#entries.get(key);
    this.#disarm(key);
    this.#entries.set(key, next);
    // An active value replaced by one that is still valid is the same key carrying on.
    if (prev?.kind === 'active' && !(next.kind === 'active' && next.valid)) this.#invalidate(prev, reasonIfInvalidated);
  }

  #forget(key: string, reason: string): void {
    const prev = this.#entries.get(key);
    this.#disarm(key);
    this.#entries.delete(key);
    if (prev?.kind === 'active') this.#invalidate(prev, reason);
  }

  #invalidate(entry: ActiveEntry, reason: string): void {
    if (!entry.valid) return;
    entry.valid = false;
    const { instanceId, accessId, userId } = entry.value;
    this.#hooks.invalidated({ instanceId, accessId, userId, reason });
  }

  #arm(key: string, entry: ActiveEntry): void {
    if (entry.notAfterMs === null || !entry.valid) return;
    const notAfterMs = entry.notAfterMs;
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        if (this.#entries.get(key) !== entry) return;
        if (this.#clock() >= notAfterMs) this.#invalidate(entry, 'expired');
        else this.#arm(key, entry);
      },
      Math.min(Math.max(notAfterMs - this.#clock(), 0), MAX_TIMER_MS),
    );
    // A proxy's own work keeps the process alive; expiry timers alone must not.
    timer.unref();
    this.#timers.set(key, timer);
  }

  #disarm(key: string): void {
    const timer = this.#timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(key);
  }
}
