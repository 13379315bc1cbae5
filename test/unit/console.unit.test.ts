// The console's parts that need no server: the escaping templates pages are built from, the
// local accounts (scrypt hashes in a file only its owner reads), the in-memory sessions and
// the sign-in rate limiter, each with a clock the test moves by hand.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword, readAccounts, verifyPassword, writeAccount, type Account } from '../../src/console/accounts.js';
import { escape, Html, html } from '../../src/console/html.js';
import { ABSOLUTE_MS, IDLE_MS, sameToken, Sessions, SignInLimiter } from '../../src/console/sessions.js';

// ---- html``

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' };
const unescape = (text: string): string => text.replace(/&(?:lt|gt|quot|#39|amp);/g, (e) => ENTITIES[e] ?? e);
/** No character that could open a tag, end an attribute or start an entity, other than the five entities themselves. */
const inert = (text: string): boolean => !/[<>"'&]/.test(text.replace(/&(?:lt|gt|quot|#39|amp);/g, ''));

// Strings rich in the characters that matter, besides any code point at all.
const markupy = fc.string({ unit: fc.constantFrom('<', '>', '"', "'", '&', ';', '#', 'a', ' ', '/', '=', '&amp;', '&lt;', '&#39;', '<script>', '</textarea>'), maxLength: 40 });
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), markupy);

describe('html``', () => {
  it('escapes any string put into it: nothing raw is left, and unescaping gives the string back', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const out = html`${s}`.text;
        expect(inert(out)).toBe(true);
        expect(unescape(out)).toBe(s);
        expect(escape(s)).toBe(out);
      }),
      { numRuns: 2000 },
    );
  });

  it('escapes a value in an attribute and in text alike, and leaves the template itself as written', () => {
    fc.assert(
      fc.property(anyText, anyText, (attribute, text) => {
        const out = html`<input value="${attribute}"><p>${text}</p>`.text;
        const match = /^<input value="([^"]*)"><p>([^<]*)<\/p>$/.exec(out);
        expect(match).not.toBeNull();
        expect(unescape(match?.[1] ?? '')).toBe(attribute);
        expect(unescape(match?.[2] ?? '')).toBe(text);
      }),
    );
  });

  it('escapes every string in an array, and in arrays of arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.array(anyText, { maxLength: 4 }), { maxLength: 4 }), (rows) => {
        const out = html`${rows}`.text;
        expect(inert(out)).toBe(true);
        expect(unescape(out)).toBe(rows.flat().join(''));
      }),
    );
    expect(html`<ul>${['<a>', ['"b"', "'c'"]]}</ul>`.text).toBe('<ul>&lt;a&gt;&quot;b&quot;&#39;c&#39;</ul>');
  });

  it('puts an Html value in as it is (not escaped twice), inside arrays too, while the strings in it were escaped once', () => {
    const items = ['<b>one</b>', 'a & b'];
    const list = html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`;
    expect(list).toBeInstanceOf(Html);
    expect(list.text).toBe('<ul><li>&lt;b&gt;one&lt;/b&gt;</li><li>a &amp; b</li></ul>');
    expect(html`<div>${list}</div>`.text).toBe(`<div>${list.text}</div>`);
    expect(html`${[html`<i>`, '<i>', [html`</i>`]]}`.text).toBe('<i>&lt;i&gt;</i>');
    expect(String(list)).toBe(list.text);
    fc.assert(
      fc.property(anyText, (s) => {
        const inner = html`<em>${s}</em>`;
        expect(html`<p>${inner}</p>`.text).toBe(`<p>${inner.text}</p>`);
        expect(html`<p>${[inner, inner]}</p>`.text).toBe(`<p>${inner.text}${inner.text}</p>`);
      }),
    );
  });

  it('escapes text that only looks escaped: a string is never taken as markup or as an entity', () => {
    expect(html`${'&lt;script&gt;'}`.text).toBe('&amp;lt;script&amp;gt;');
    expect(html`${new Html('<b>').text}`.text).toBe('&lt;b&gt;');
  });

  it('writes numbers as text and nothing for null, undefined and false', () => {
    expect(html`${0}|${42}|${-1.5}`.text).toBe('0|42|-1.5');
    expect(html`[${null}][${undefined}][${false}]`.text).toBe('[][][]');
    expect(html``.text).toBe('');
    expect(html`no values`.text).toBe('no values');
  });
});

// ---- accounts

describe('console passwords', () => {
  const password = 'correct horse battery staple';
  let hash: string;
  beforeAll(async () => {
    hash = await hashPassword(password);
  }, 30_000);

  it('are kept as scrypt$N$r$p$salt$key with a 16-byte salt and a 32-byte key, never as the password', async () => {
    const match = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(hash);
    expect(match).not.toBeNull();
    const [, n, r, p, salt, key] = match ?? [];
    // OWASP's floor for scrypt.
    expect(Number(n)).toBeGreaterThanOrEqual(2 ** 17);
    expect(Number(r)).toBeGreaterThanOrEqual(8);
    expect(Number(p)).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(salt ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(key ?? '', 'base64')).toHaveLength(32);
    expect(hash).not.toContain(password);
    expect(hash).not.toContain(Buffer.from(password).toString('base64'));
    expect(hash).not.toContain(Buffer.from(password).toString('hex'));
    // A password that is itself hash-shaped text is not copied in either.
    const odd = 'scrypt$131072$8$1$AAAA$BBBB';
    expect(await hashPassword(odd)).not.toContain(odd);
  }, 30_000);

  it('are salted: two hashes of one password differ, and both check out', async () => {
    const again = await hashPassword(password);
    expect(again).not.toBe(hash);
    expect(again.split('$')[4]).not.toBe(hash.split('$')[4]);
    expect(await verifyPassword(again, password)).toBe(true);
  }, 30_000);

  it('check out only for the right password', async () => {
    expect(await verifyPassword(hash, password)).toBe(true);
    expect(await verifyPassword(hash, 'correct horse battery stapl')).toBe(false);
    expect(await verifyPassword(hash, `${password} `)).toBe(false);
    expect(await verifyPassword(hash, '')).toBe(false);
  }, 30_000);

  it('never check out for an unknown user (no hash), whatever the password', async () => {
    expect(await verifyPassword(undefined, password)).toBe(false);
    expect(await verifyPassword(undefined, '')).toBe(false);
    expect(await verifyPassword(undefined, password)).toBe(false);
  }, 30_000);

  it('never check out against a stored value that is not a hash', async () => {
    expect(await verifyPassword('plain', 'plain')).toBe(false);
    expect(await verifyPassword('', '')).toBe(false);
    expect(await verifyPassword(password, password)).toBe(false);
    // A hash cut short: same salt, no key.
    expect(await verifyPassword(hash.slice(0, hash.lastIndexOf('$') + 1), password)).toBe(false);
  }, 30_000);
});

describe('the console accounts file', () => {
  let dir: string;
  let file: string;
  const account = (userId: string, role: Account['role'], passwordHash: string): Account => ({ userId, role, passwordHash });
  // A real hash's shape; these tests never check a password against it.
  const HASH_A = `scrypt$131072$8$1$${Buffer.alloc(16, 1).toString('base64')}$${Buffer.alloc(32, 2).toString('base64')}`;
  const HASH_B = `scrypt$131072$8$1$${Buffer.alloc(16, 3).toString('base64')}$${Buffer.alloc(32, 4).toString('base64')}`;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-accounts-'));
    file = join(dir, 'console-users.json');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is no accounts while it does not exist', () => {
    expect(readAccounts(file)).toEqual([]);
  });

  it('takes a user, then another, and replaces a user written again', () => {
    writeAccount(file, account('ada', 'admin', HASH_A));
    expect(readAccounts(file)).toEqual([account('ada', 'admin', HASH_A)]);
    writeAccount(file, account('bob', 'user', HASH_A));
    expect(readAccounts(file)).toEqual([account('ada', 'admin', HASH_A), account('bob', 'user', HASH_A)]);
    writeAccount(file, account('ada', 'dba', HASH_B));
    const users = readAccounts(file);
    expect(users).toHaveLength(2);
    expect(users.filter((u) => u.userId === 'ada')).toEqual([account('ada', 'dba', HASH_B)]);
    expect(users).toContainEqual(account('bob', 'user', HASH_A));
    // Replaced whole: no temporary file is left beside it.
    expect(readdirSync(dir)).toEqual(['console-users.json']);
  });

  it('is written readable by its owner only (0600), even over a file that was readable by others', () => {
    writeAccount(file, account('ada', 'admin', HASH_A));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    chmodSync(file, 0o644);
    writeAccount(file, account('bob', 'user', HASH_B));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses a file that is not an accounts file, naming it and what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['{}', /is not a console accounts file/],
      ['[]', /is not a console accounts file/],
      ['{"users": {}}', /is not a console accounts file/],
      ['{"users": [1]}', /user 1 is not/],
      [JSON.stringify({ users: [{ userId: 'ada', role: 'root', passwordHash: HASH_A }] }), /user 1 is not/],
      [JSON.stringify({ users: [{ userId: 'ada', role: 'admin', passwordHash: HASH_A }, { userId: '<b>', role: 'admin', passwordHash: HASH_A }] }), /user 2 is not/],
      [JSON.stringify({ users: [{ userId: 'ada', role: 'admin', passwordHash: 'correct horse battery staple' }] }), /user 1 is not/],
      [JSON.stringify({ users: [{ userId: 'ada', role: 'admin' }] }), /user 1 is not/],
    ];
    for (const [text, problem] of cases) {
      writeFileSync(file, text);
      expect(() => readAccounts(file), text).toThrow(problem);
      expect(() => readAccounts(file), text).toThrow(file);
    }
  });

  it('is never written over when it cannot be read: a broken file stays as it was', () => {
    for (const text of ['{}', 'not json']) {
      writeFileSync(file, text);
      expect(() => { writeAccount(file, account('ada', 'admin', HASH_A)); }).toThrow();
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  // BUG (src/console/accounts.ts readAccounts): text that is not JSON throws JSON.parse's bare
  // SyntaxError, and `null` or a null user a TypeError ("Cannot read properties of null"), none
  // of which names the file. Remove `.fails` once readAccounts says which file is broken.
  it('refuses a file that is not JSON, is null or holds a null user, naming the file', () => {
    for (const text of ['not json', '', 'null', '{"users": [null]}']) {
      writeFileSync(file, text);
      expect(() => readAccounts(file), text).toThrow(file);
    }
  });
});

// ---- sessions

/** A clock the test moves by hand. */
const manualClock = (start = 1_700_000_000_000) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
};

describe('console sessions', () => {
  it('are found by their id, each with ids and CSRF tokens of their own that cannot be guessed', () => {
    const sessions = new Sessions();
    const a = sessions.open('ada', 'admin');
    const b = sessions.open('ada', 'admin');
    for (const token of [a.id, a.csrf, b.id, b.csrf]) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([a.id, a.csrf, b.id, b.csrf]).size).toBe(4);
    expect(sessions.find(a.id)).toMatchObject({ userId: 'ada', role: 'admin', csrf: a.csrf });
    expect(sessions.find(b.id)?.csrf).toBe(b.csrf);
    expect(sessions.find(undefined)).toBeUndefined();
    expect(sessions.find('')).toBeUndefined();
    expect(sessions.find(a.csrf)).toBeUndefined();
  });

  it('end after IDLE_MS without a request, and a request before then keeps one going', () => {
    const clock = manualClock();
    const sessions = new Sessions(clock.now);
    const idle = sessions.open('ada', 'admin');
    const busy = sessions.open('bob', 'user');
    clock.advance(IDLE_MS - 1000);
    expect(sessions.find(busy.id)).toBeDefined();
    clock.advance(2000);
    expect(sessions.find(idle.id)).toBeUndefined();
    expect(sessions.find(busy.id)).toBeDefined();
    // Gone for good: the clock going back does not bring it back.
    clock.advance(-5000);
    expect(sessions.find(idle.id)).toBeUndefined();
  });

  it('end after ABSOLUTE_MS however busy they are', () => {
    const clock = manualClock();
    const sessions = new Sessions(clock.now);
    const session = sessions.open('ada', 'admin');
    const step = IDLE_MS / 2;
    let elapsed = 0;
    while (elapsed + step <= ABSOLUTE_MS) {
      clock.advance(step);
      elapsed += step;
      expect(sessions.find(session.id), `after ${elapsed} ms`).toBeDefined();
    }
    clock.advance(ABSOLUTE_MS - elapsed + 1);
    expect(sessions.find(session.id)).toBeUndefined();
  });

  it('end when closed, and only the one closed', () => {
    const sessions = new Sessions();
    const a = sessions.open('ada', 'admin');
    const b = sessions.open('ada', 'admin');
    sessions.close(a.id);
    expect(sessions.find(a.id)).toBeUndefined();
    expect(sessions.find(b.id)).toBeDefined();
    sessions.close('no-such-session');
    expect(sessions.find(b.id)).toBeDefined();
  });

  it('adopt a caller\'s id (a trusted header\'s person) with a CSRF token of their own, under the same timeouts', () => {
    const clock = manualClock();
    const sessions = new Sessions(clock.now);
    const s = sessions.adopt('trusted:ada:admin', 'ada', 'admin');
    expect(s.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.find('trusted:ada:admin')?.csrf).toBe(s.csrf);
    clock.advance(IDLE_MS + 1);
    expect(sessions.find('trusted:ada:admin')).toBeUndefined();
  });

  it('compare tokens exactly, whatever their lengths', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abc', 'abd')).toBe(false);
    expect(sameToken('abc', 'abcd')).toBe(false);
    expect(sameToken('', 'abc')).toBe(false);
    expect(sameToken('é', 'e\u0301')).toBe(false);
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => sameToken(a, b) === (a === b)));
  });
});

// ---- the sign-in limiter

describe('the sign-in limiter', () => {
  const WINDOW = 15 * 60_000;
  const limiter = () => {
    const clock = manualClock();
    // The defaults the console runs with: 5 per user, 30 per address, 15 minutes.
    return { clock, limiter: new SignInLimiter(undefined, undefined, clock.now) };
  };

  it('blocks a user name after 5 failures, from any address, and no other name', () => {
    const { limiter: l } = limiter();
    for (let i = 0; i < 4; i++) l.attempt('ada', `10.0.0.${i}`);
    expect(l.blocked('ada', '10.0.0.9')).toBe(false);
    l.attempt('ada', '10.0.0.4');
    expect(l.blocked('ada', '10.0.0.9')).toBe(true);
    expect(l.blocked('ada', '10.0.0.0')).toBe(true);
    expect(l.blocked('bob', '10.0.0.0')).toBe(false);
    // Names are taken as they are: another spelling is another name.
    expect(l.blocked('Ada', '10.0.0.9')).toBe(false);
  });

  it('blocks an address after 30 failures, whichever names were tried, and no other address', () => {
    const { limiter: l } = limiter();
    for (let i = 0; i < 29; i++) l.attempt(`user-${i}`, '10.0.0.1');
    expect(l.blocked('someone-new', '10.0.0.1')).toBe(false);
    l.attempt('user-29', '10.0.0.1');
    expect(l.blocked('someone-new', '10.0.0.1')).toBe(true);
    expect(l.blocked('user-0', '10.0.0.2')).toBe(false);
  });

  it('counts only failures: asking whether a key is blocked is not one', () => {
    const { limiter: l } = limiter();
    for (let i = 0; i < 4; i++) l.attempt('ada', '10.0.0.1');
    for (let i = 0; i < 100; i++) expect(l.blocked('ada', '10.0.0.1')).toBe(false);
  });

  it('forgets a failure once its window has passed', () => {
    const { clock, limiter: l } = limiter();
    for (let i = 0; i < 5; i++) l.attempt('ada', '10.0.0.1');
    clock.advance(WINDOW - 1);
    expect(l.blocked('ada', '10.0.0.1')).toBe(true);
    clock.advance(1);
    expect(l.blocked('ada', '10.0.0.1')).toBe(false);
  });

  it('slides: a block lasts until the oldest failure in the window is a window old', () => {
    const { clock, limiter: l } = limiter();
    for (let i = 0; i < 5; i++) {
      l.attempt('ada', '10.0.0.1');
      clock.advance(60_000);
    }
    // Failures at 0, 1, 2, 3 and 4 minutes; it is now 5 minutes.
    expect(l.blocked('ada', '10.0.0.1')).toBe(true);
    clock.advance(WINDOW - 5 * 60_000 - 1);
    expect(l.blocked('ada', '10.0.0.1')).toBe(true);
    clock.advance(1);
    expect(l.blocked('ada', '10.0.0.1')).toBe(false);
    // One more failure makes five within the window again.
    l.attempt('ada', '10.0.0.1');
    expect(l.blocked('ada', '10.0.0.1')).toBe(true);
  });

  it('takes other limits and windows', () => {
    const clock = manualClock();
    const l = new SignInLimiter({ user: 2, address: 3 }, 1000, clock.now);
    l.attempt('a', 'x');
    l.attempt('a', 'x');
    expect(l.blocked('a', 'y')).toBe(true);
    l.attempt('b', 'x');
    expect(l.blocked('c', 'x')).toBe(true);
    clock.advance(1000);
    expect(l.blocked('a', 'x')).toBe(false);
  });
});
