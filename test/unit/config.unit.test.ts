import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, describeStore, loadMasterKey, loadServiceConfig, loadStoreSettings, natsServers } from '../../src/config.js';
import { SealingKey } from '../../src/crypto.js';
import { Secret } from '../../domain/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the master key', () => {
  it('comes from KEYWARD_MASTER_KEY, 32 bytes of base64', () => {
    const text = SealingKey.generate().exportBase64();
    const { key, warning } = loadMasterKey({ KEYWARD_MASTER_KEY: text }, dir);
    expect(warning).toBeUndefined();
    const sealed = key.seal(new Secret('x'));
    expect(SealingKey.fromBase64(text).unseal(sealed).reveal()).toBe('x');
  });

  it('is required: without it the service refuses to start, saying how to make one', () => {
    expect(() => loadMasterKey({}, dir)).toThrow(ConfigError);
    expect(() => loadMasterKey({}, dir)).toThrow(/KEYWARD_MASTER_KEY.*openssl rand -base64 32.*KEYWARD_DEV=1/);
  });

  it('of the wrong length or form is refused without being repeated', () => {
    for (const bad of [Buffer.alloc(16).toString('base64'), 'not base64 at all!', Buffer.alloc(33, 1).toString('base64')]) {
      let message = '';
      try {
        loadMasterKey({ KEYWARD_MASTER_KEY: bad }, dir);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/not 32 bytes of base64/);
      expect(message).not.toContain(bad);
    }
  });

  it('in development mode is made once, kept private in the data folder, and announced', () => {
    const first = loadMasterKey({ KEYWARD_DEV: '1' }, dir);
    expect(first.warning).toMatch(/development mode/);
    const file = join(dir, 'dev-master.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const sealed = first.key.seal(new Secret('kept'));
    expect(loadMasterKey({ KEYWARD_DEV: '1' }, dir).key.unseal(sealed).reveal()).toBe('kept');
    expect(readFileSync(file, 'utf8').trim()).toHaveLength(44);
  });
});

describe('the event store setting', () => {
  it('defaults to the embedded store under ./data, durable', () => {
    expect(loadStoreSettings({})).toEqual({ kind: 'sqlite', path: './data/keyward.db', synchronous: 'FULL' });
  });

  it('sqlite:<path> names another file; NORMAL is accepted when asked for', () => {
    expect(loadStoreSettings({ KEYWARD_STORE: 'sqlite:/var/lib/keyward/events.db', KEYWARD_SQLITE_SYNCHRONOUS: 'NORMAL' })).toEqual({
      kind: 'sqlite',
      path: '/var/lib/keyward/events.db',
      synchronous: 'NORMAL',
    });
  });

  it('an EventStoreDB connection string selects EventStoreDB, for one node or a cluster', () => {
    for (const connectionString of ['esdb://127.0.0.1:2113?tls=false', 'esdb://node1:2113,node2:2113,node3:2113?tls=true&nodePreference=leader', 'esdb+discover://cluster.example:2113']) {
      expect(loadStoreSettings({ KEYWARD_STORE: connectionString })).toEqual({ kind: 'esdb', connectionString });
    }
  });

  it('a bad EventStoreDB connection string is refused with the parser’s reason, never its password', () => {
    const problems = (store: string): readonly string[] => {
      try {
        loadStoreSettings({ KEYWARD_STORE: store });
      } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
      }
      return [];
    };
    expect(problems('esdb://admin:hunter2-secret@host:2113?tls=maybe')).toEqual([expect.stringMatching(/^KEYWARD_STORE is not an EventStoreDB connection string: .*true or false/)]);
    expect(problems('esdb://host:port')).toEqual([expect.stringMatching(/expected port number/)]);
    // The client would ignore a misspelt option without a word: keyward refuses it.
    expect(problems('esdb://admin:hunter2-secret@host:2113?tsl=false')).toEqual(['KEYWARD_STORE: Unknown option key "tsl", setting will be ignored.']);
    for (const p of [...problems('esdb://admin:hunter2-secret@host:2113?tls=maybe'), ...problems('esdb://admin:hunter2-secret@host:2113?tsl=false')]) expect(p).not.toContain('hunter2');
  });

  it('names the store for logs without its credentials', () => {
    expect(describeStore({ kind: 'esdb', connectionString: 'esdb://admin:hunter2@node1:2113,node2:2113?tls=true' })).toBe('esdb://node1:2113,node2:2113?tls=true');
    expect(describeStore({ kind: 'sqlite', path: './data/keyward.db', synchronous: 'FULL' })).toBe('sqlite:./data/keyward.db');
  });

  it('reports every problem, one line each', () => {
    let error: unknown;
    try {
      loadStoreSettings({ KEYWARD_STORE: 'mongodb://x', KEYWARD_SQLITE_SYNCHRONOUS: 'OFF' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'KEYWARD_STORE must be sqlite:<path> (the embedded store) or an EventStoreDB connection string (esdb://host:2113?tls=false); it is "mongodb://x"',
      'KEYWARD_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not "OFF"',
    ]);
  });
});

describe('the scheduler setting', () => {
  const base = (): NodeJS.ProcessEnv => ({ KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}` });

  it('is on by default, and off when asked', () => {
    expect(loadServiceConfig(base()).scheduler).toBe(true);
    expect(loadServiceConfig({ ...base(), KEYWARD_SCHEDULER: 'off' }).scheduler).toBe(false);
  });

  it('anything but on or off is refused, saying what is accepted', () => {
    expect(() => loadServiceConfig({ ...base(), KEYWARD_SCHEDULER: 'yes' })).toThrow('KEYWARD_SCHEDULER must be on or off, not "yes"');
  });
});

describe('the NATS setting', () => {
  const base = (): NodeJS.ProcessEnv => ({ KEYWARD_DEV: '1', KEYWARD_STORE: `sqlite:${join(dir, 'keyward.db')}` });

  it('takes one server or a cluster’s seeds joined by commas, each one a server to try', () => {
    const env = { ...base(), KEYWARD_NATS_URL: 'nats://n1:4222, nats://n2:4222,nats://n3:4222' };
    expect(natsServers(loadServiceConfig(env).natsUrl)).toEqual(['nats://n1:4222', 'nats://n2:4222', 'nats://n3:4222']);
  });

  it('refuses a list with something that is not a NATS URL in it', () => {
    expect(() => loadServiceConfig({ ...base(), KEYWARD_NATS_URL: 'nats://n1:4222,n2:4222' })).toThrow(/KEYWARD_NATS_URL must be a URL like nats:\/\/127.0.0.1:4222, or several joined by commas/);
  });
});
