// io-ts building blocks that speak API.md's language: every failure carries a plain-words
// message for its path, objects refuse fields they do not define (a misspelt `expiresAt`
// must never silently make a key that does not expire), and no message ever quotes the
// value it refused (it may be a password).
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { invalid, type DomainError, type ErrorDetail } from './errors.js';
import { normalizeTimestamp, type Timestamp } from './time.js';

/** A codec whose decoded value is also what it encodes to (everything in events and requests). */
export type Codec<A> = t.Type<A, A>;

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === 'object' && u !== null && !Array.isArray(u);

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

type Props = Record<string, t.Mixed>;
type Decoded<P extends Props> = { [K in keyof P]: t.TypeOf<P[K]> };

/**
 * An object with exactly these fields: `required` must be present, `optional` may be absent
 * (and is then absent from the result, never `undefined`). Any other own key, `__proto__`
 * and `constructor` included, is an error at its path.
 */
// An absent `optional` adds no fields: the empty default is meant.
// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type
export const struct = <R extends Props, O extends Props = Record<never, never>>(
  name: string,
  required: R,
  optional?: O,
): Codec<Decoded<R> & Partial<Decoded<O>>> => {
  const opt: Props = optional ?? {};
  const known = new Set([...Object.keys(required), ...Object.keys(opt)]);
  // Taken apart once: `is` runs for every field of every event a replay reads.
  const requiredEntries = Object.entries(required);
  const optionalEntries = Object.entries(opt);
  const is = (u: unknown): u is Decoded<R> & Partial<Decoded<O>> => {
    if (!isRecord(u)) return false;
    for (const k in u) if (own(u, k) && !known.has(k)) return false;
    for (const [k, c] of requiredEntries) if (!own(u, k) || !c.is(u[k])) return false;
    for (const [k, c] of optionalEntries) if (own(u, k) && !c.is(u[k])) return false;
    return true;
  };
  return new t.Type(
    name,
    is,
    (u, c) => {
      // Already exactly a value of this type (as every stored event is): nothing to rebuild.
      if (is(u)) return t.success(u);
      if (!isRecord(u)) return t.failure(u, c, 'must be a JSON object');
      const errors: t.Errors = [];
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(u)) {
        if (!known.has(k)) errors.push(failureAt(u[k], c, k, 'is not a field of this request'));
      }
      const field = (k: string, codec: t.Mixed, present: boolean): void => {
        if (!present) return;
        const r = codec.validate(u[k], t.appendContext(c, k, codec, u[k]));
        if (E.isLeft(r)) errors.push(...r.left);
        else Object.defineProperty(out, k, { value: r.right, enumerable: true, writable: true, configurable: true });
      };
      for (const [k, codec] of Object.entries(required)) {
        if (own(u, k)) field(k, codec, true);
        else errors.push(failureAt(undefined, c, k, 'is required'));
      }
      for (const [k, codec] of Object.entries(opt)) field(k, codec, own(u, k));
      return errors.length > 0 ? t.failures(errors) : t.success(out as Decoded<R> & Partial<Decoded<O>>);
    },
    t.identity,
  );
};

const failureAt = (value: unknown, c: t.Context, key: string, message: string): t.ValidationError => ({
  value,
  context: [...c, { key, type: t.unknown, actual: value }],
  message,
});

/**
 * A union told apart by its `tag` field, so an error names the variant's own fields
 * instead of listing every variant's complaints.
 */
export const tagged = <V extends Record<string, t.Mixed>>(
  name: string,
  tag: string,
  variants: V,
): Codec<t.TypeOf<V[keyof V]>> => {
  const tags = Object.keys(variants);
  const pick = (u: unknown): t.Mixed | undefined =>
    isRecord(u) && typeof u[tag] === 'string' && own(variants, u[tag]) ? variants[u[tag]] : undefined;
  return new t.Type(
    name,
    (u): u is t.TypeOf<V[keyof V]> => pick(u)?.is(u) ?? false,
    (u, c) => {
      if (!isRecord(u)) return t.failure(u, c, 'must be a JSON object');
      const variant = pick(u);
      if (variant === undefined) {
        return t.failures([failureAt(u[tag], c, tag, `must be one of ${tags.join(', ')}`)]);
      }
      return variant.validate(u, c) as t.Validation<t.TypeOf<V[keyof V]>>;
    },
    t.identity,
  );
};

/**
 * A codec for the values `base` accepts, refusing the rest with `message`. `base` returns the
 * decoded value; `is` holds only for a value that is already exactly that (a time already
 * normalized, not one that would be), so `struct` can pass such values through untouched.
 */
export const refined = <A>(name: string, base: (u: unknown) => A | undefined, message: string): Codec<A> =>
  new t.Type<A, A, unknown>(
    name,
    (u): u is A => u !== undefined && base(u) === u,
    (u, c) => {
      const a = base(u);
      return a === undefined ? t.failure(u, c, message) : t.success(a);
    },
    t.identity,
  );

export const pattern = (name: string, re: RegExp, message: string): Codec<string> =>
  refined(name, (u) => (typeof u === 'string' && re.test(u) ? u : undefined), message);

export const literal = <L extends string>(value: L): Codec<L> =>
  refined(value, (u) => (u === value ? value : undefined), `must be "${value}"`);

export const oneOf = <L extends string>(name: string, values: readonly L[]): Codec<L> =>
  refined(name, (u) => values.find((v) => v === u), `must be one of ${values.join(', ')}`);

export const integer = (name: string, min: number, max: number): Codec<number> =>
  refined(
    name,
    (u) => (typeof u === 'number' && Number.isInteger(u) && u >= min && u <= max ? u : undefined),
    `must be a whole number from ${min} to ${max}`,
  );

/** A string of `min`–`max` characters, none of them a control character. */
export const text = (name: string, min: number, max: number): Codec<string> =>
  refined(
    name,
    // eslint-disable-next-line no-control-regex
    (u) => (typeof u === 'string' && u.length >= min && u.length <= max && !/[\u0000-\u001f\u007f]/.test(u) ? u : undefined),
    `must be ${min}–${max} characters without control characters`,
  );

export const timestamp: Codec<Timestamp> = refined(
  'Timestamp',
  (u) => (typeof u === 'string' ? (normalizeTimestamp(u) ?? undefined) : undefined),
  'must be an RFC 3339 time in UTC, like 2026-12-04T10:00:00.000Z',
);

export const nullable = <A>(codec: Codec<A>): Codec<A | null> =>
  new t.Type<A | null, A | null, unknown>(
    `${codec.name} | null`,
    (u): u is A | null => u === null || codec.is(u),
    (u, c) => (u === null ? t.success(null) : codec.validate(u, c)),
    t.identity,
  );

export const arrayOf = <A>(codec: Codec<A>, max: number): Codec<A[]> =>
  new t.Type<A[], A[], unknown>(
    `${codec.name}[]`,
    (u): u is A[] => Array.isArray(u) && u.length <= max && u.every((x) => codec.is(x)),
    (u, c) => {
      if (!Array.isArray(u)) return t.failure(u, c, 'must be a JSON array');
      if (u.length > max) return t.failure(u, c, `must have at most ${max} items`);
      const errors: t.Errors = [];
      const out: A[] = [];
      u.forEach((x, i) => {
        const r = codec.validate(x, t.appendContext(c, String(i), codec, x));
        if (E.isLeft(r)) errors.push(...r.left);
        else out.push(r.right);
      });
      return errors.length > 0 ? t.failures(errors) : t.success(out);
    },
    t.identity,
  );

/** Each failure as a dotted path and its message; the value itself is never repeated. */
export const describeErrors = (errors: t.Errors): ErrorDetail[] => {
  const details = errors.map((e) => ({
    path: e.context
      .map((c) => c.key)
      .filter((k) => k !== '')
      .join('.'),
    message: e.message ?? `must be ${e.context[e.context.length - 1]?.type.name ?? 'valid'}`,
  }));
  const seen = new Set<string>();
  return details.filter((d) => {
    const key = `${d.path}\u0000${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};

export const decodeWith =
  <A>(codec: Codec<A>) =>
  (input: unknown): E.Either<DomainError, A> =>
    E.mapLeft((errors: t.Errors) => invalid(describeErrors(errors)))(codec.decode(input));
