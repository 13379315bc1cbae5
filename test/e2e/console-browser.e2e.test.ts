// The console in a real browser: Debian's Chromium driven by playwright-core, against a real
// keyward, nats-server and proxy node. The whole workflow by clicking, as an administrator, a
// user filing a ticket and a regular owner; screenshots of the main pages go to
// test-results/console/ (desktop and phone widths) for a person to look at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startConsoleWorld, type ConsoleWorld } from '../support/console-world.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(import.meta.dirname, '../../test-results/console');
// The flags this machine's Chromium needs: no sandbox as root, and no background network
// (its connections out are refused here, many at a time).
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let w: ConsoleWorld;
let browser: Browser;
// localhost, not 127.0.0.1: browsers keep Secure cookies over plain http for localhost only.
const site = (): string => w.url.replace('127.0.0.1', 'localhost');
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  w = await startConsoleWorld();
  await w.addUser('ada', 'admin');
  await w.addUser('bob', 'user');
  await w.addUser('olivia', 'user');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}, 60_000);
afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await (browser as Browser | undefined)?.close();
  await (w as ConsoleWorld | undefined)?.stop();
}, 60_000);

/** A person at their own browser, in a time zone of their own. */
const person = async (userId: string, options: { timezoneId?: string; phone?: boolean } = {}): Promise<Page> => {
  const context = await browser.newContext({
    timezoneId: options.timezoneId ?? 'UTC',
    viewport: options.phone === true ? { width: 390, height: 844 } : { width: 1280, height: 900 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${site()}/proxies`);
  await page.getByLabel('User').fill(userId);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/proxies/);
  return page;
};

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

const pairOn = async (page: Page): Promise<{ accessId: string; secret: string }> => ({
  accessId: (await page.locator('#access-id').textContent()) ?? '',
  secret: (await page.locator('#access-secret').textContent()) ?? '',
});

const until = async (check: () => boolean): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the proxy node did not see the change in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

const rowOf = (page: Page, userId: string) => page.locator('tbody tr').filter({ has: page.locator('td[data-label="User"]', { hasText: new RegExp(`^${userId}$`) }) });

describe('the console in Chromium', () => {
  it('lets an administrator enable a proxy, authorize users with each policy, view, update, recycle and release', async () => {
    const ada = await person('ada', { timezoneId: 'America/New_York' });
    await shot(ada, 'proxies-empty');
    await ada.getByLabel('Instance').fill('orders-db');
    await ada.getByLabel('Proxy database account').fill('app');
    await ada.getByLabel('Its password').fill('app-password-1');
    await ada.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => ada.locator('.notice').textContent()).toContain('The proxy of orders-db is enabled.');

    const authorize = async (userId: string, choose: () => Promise<void>) => {
      await ada.getByRole('link', { name: 'Authorize user' }).click();
      await ada.getByLabel('User', { exact: true }).fill(userId);
      await choose();
      await ada.getByRole('button', { name: 'Authorize' }).click();
      await ada.locator('#access-secret').waitFor();
      const pair = await pairOn(ada);
      await ada.getByRole('link', { name: 'Back to orders-db' }).click();
      return pair;
    };
    const carol = await authorize('carol', async () => {
      await ada.getByLabel('System (no automatic rotation)').check();
    });
    await ada.getByRole('link', { name: 'Authorize user' }).click();
    await shot(ada, 'authorize-form');
    await ada.goBack();
    const dave = await authorize('dave', async () => {
      await ada.getByLabel('Regularly Update AccessKey Pair').check();
      await ada.getByLabel('Every (hours)').fill('12');
    });
    const erin = await authorize('erin', async () => {
      await ada.getByLabel('Expires at Specific Time').check();
      // 09:30 in New York on 1 June 2031 is 13:30 UTC (daylight saving time).
      await ada.getByLabel(/Expires at/).last().fill('2031-06-01T09:30');
      await ada.getByLabel('A custom account').check();
      await ada.getByLabel(/Username/).fill('erin_ro');
      await ada.getByLabel(/^Password/).fill('erin-password-1');
    });
    for (const p of [carol, dave, erin]) await until(() => w.node.verify('orders-db', p.accessId, p.secret).ok);
    await expect.poll(() => rowOf(ada, 'erin').locator('td[data-label="Expiry"]').textContent()).toBe('2031-06-01 13:30:00 UTC');
    expect(await rowOf(ada, 'dave').locator('td[data-label="Policy"]').textContent()).toBe('rotate every 12 h');
    expect(await rowOf(ada, 'erin').locator('td[data-label="Account"]').textContent()).toBe('custom: erin_ro');
    await shot(ada, 'instance');

    await rowOf(ada, 'carol').getByRole('button', { name: 'View' }).click();
    expect(await pairOn(ada)).toEqual(carol);
    await ada.getByRole('button', { name: 'Copy' }).last().click();
    expect(await ada.evaluate<string>('navigator.clipboard.readText()')).toBe(carol.secret);
    await shot(ada, 'view-pair');
    await ada.getByRole('link', { name: 'Back to orders-db' }).click();

    await rowOf(ada, 'carol').getByRole('link', { name: 'Update' }).click();
    expect(await ada.locator('.alert').textContent()).toContain('stops working at once');
    await ada.getByRole('button', { name: 'Update' }).click();
    const updated = await pairOn(ada);
    expect(updated.accessId).not.toBe(carol.accessId);
    await until(() => !w.node.verify('orders-db', carol.accessId, carol.secret).ok && w.node.verify('orders-db', updated.accessId, updated.secret).ok);
    await ada.getByRole('link', { name: 'Back to orders-db' }).click();

    await rowOf(ada, 'dave').getByRole('link', { name: 'Recycling' }).click();
    await ada.getByRole('button', { name: 'Recycle' }).click();
    await expect.poll(() => rowOf(ada, 'dave').locator('td[data-label="Status"]').textContent()).toBe('revoked');
    await rowOf(ada, 'erin').getByRole('link', { name: 'Release' }).click();
    await ada.getByRole('button', { name: 'Release' }).click();
    await expect.poll(() => ada.locator('.notice').textContent()).toContain("erin's pair is revoked (released).");
    await until(() => !w.node.verify('orders-db', dave.accessId, dave.secret).ok && !w.node.verify('orders-db', erin.accessId, erin.secret).ok);
    expect(await rowOf(ada, 'dave').getByRole('button', { name: 'View' }).count()).toBe(0);
    await rowOf(ada, 'dave').getByRole('link', { name: 'proxy nodes' }).click();
    await expect.poll(() => ada.locator('h1').textContent()).toBe(`Key ${dave.accessId} on orders-db`);
    await shot(ada, 'key-enforcement');
    await ada.getByRole('link', { name: 'Back to orders-db' }).click();

    await ada.getByRole('link', { name: 'History' }).first().click();
    await ada.getByLabel('Instance').fill('orders-db');
    await ada.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => ada.locator('tbody tr').count()).toBeGreaterThan(5);
    await shot(ada, 'history');
    const everything = await ada.content();
    for (const s of [carol.secret, updated.secret, dave.secret, erin.secret, 'app-password-1', 'erin-password-1']) expect(everything).not.toContain(s);
  }, 120_000);

  it('takes a ticket from a user and lets someone else approve it, never the requester', async () => {
    const bob = await person('bob');
    await bob.getByRole('link', { name: 'Tickets' }).click();
    await bob.getByLabel('Instance').fill('orders-db');
    await bob.getByLabel('Reason').fill('month-end reports');
    await bob.getByRole('button', { name: 'Submit' }).click();
    const notice = (await bob.locator('.notice').textContent()) ?? '';
    const ticketId = /Ticket (\S+) is submitted/.exec(notice)?.[1] ?? '';
    expect(ticketId).not.toBe('');
    expect(await bob.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await shot(bob, 'tickets-requester');
    const ada = await person('ada');
    await ada.getByRole('link', { name: 'Tickets' }).click();
    await shot(ada, 'tickets-queue');
    await ada.locator('tr', { hasText: ticketId }).getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => ada.locator('.notice').textContent()).toContain(`Ticket ${ticketId} is approved.`);
    await ada.goto(`${site()}/instances/orders-db`);
    expect(await rowOf(ada, 'bob').locator('td[data-label="Origin"]').textContent()).toBe(`ticket ${ticketId} (approved by ada)`);
  }, 60_000);

  it("shows a regular owner no action on another user's row, and refuses the form posted by hand", async () => {
    const olivia = await person('olivia');
    await olivia.getByLabel('Instance').fill('olivia-db');
    await olivia.getByLabel('Proxy database account').fill('app');
    await olivia.getByLabel('Its password').fill('app-password-3');
    await olivia.getByRole('button', { name: 'Enable' }).click();
    await olivia.getByRole('link', { name: 'Authorize user' }).click();
    await olivia.getByLabel('User', { exact: true }).fill('frank');
    await olivia.getByRole('button', { name: 'Authorize' }).click();
    const frank = await pairOn(olivia);
    await olivia.getByRole('link', { name: 'Back to olivia-db' }).click();
    expect(await rowOf(olivia, 'frank').locator('td.actions').innerText()).toBe('');
    const csrf = (await olivia.locator('input[name="_csrf"]').first().getAttribute('value')) ?? '';
    const byHand = await olivia.request.post(`${site()}/instances/olivia-db/users/frank/view`, { form: { _csrf: csrf } });
    expect(byHand.status()).toBe(403);
    expect(await byHand.text()).not.toContain(frank.secret);
    await until(() => w.node.verify('olivia-db', frank.accessId, frank.secret).ok);
  }, 60_000);

  it('is readable on a phone', async () => {
    const ada = await person('ada', { phone: true });
    await ada.goto(`${site()}/instances/orders-db`);
    await shot(ada, 'instance-phone');
    // Nothing wider than the screen, not even inside a scrolling box: rows become cards.
    const overflowing = () => ada.evaluate<number>("[document.documentElement, ...document.querySelectorAll('.table-wrap, td')].filter((e) => e.scrollWidth > e.clientWidth + 1).length");
    expect(await overflowing()).toBe(0);
    await ada.goto(`${site()}/proxies`);
    await shot(ada, 'proxies-phone');
    expect(await overflowing()).toBe(0);
    await ada.goto(`${site()}/tickets`);
    await shot(ada, 'tickets-phone');
    expect(await overflowing()).toBe(0);
  }, 60_000);
});
