// Revocations reach every proxy node and never come undone (DESIGN.md, "Delivery to proxy
// nodes"). Everything real and apart, as in production: a nats-server, keyward in this process,
// the relay and each proxy node a process of its own through the CLI (`keyward relay`,
// `keyward proxy-node`), the nodes asked over their stdin as a proxy would ask the SDK.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { SealingKey } from '../../src/crypto.js';
import { type Answer, type Keyward, ok, startKeyward } from '../support/keyward.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startProxyNodeProcess, type ProxyNodeProcess, type VerifyLine } from '../support/proxy-node-process.js';

const RELAY = join(import.meta.dirname, '../support/relay-process.ts');
const INSTANCE = 'orders-db';
const admin = { userId: 'ada', role: 'admin' };
const OUTPUT_KEPT = 16_384;
const OUTAGE_MS = 6_000;
// How long a change may take to reach every node: generous, so a busy machine does not fail a
// passing run (a run that passes waits only as long as the nodes need).
const DELIVERY_MS = 10_000;
// The same after NATS or the relay was away: reconnections, reloads and retries come first.
const RECOVERY_MS = 20_000;

const cleanups: (() => Promise<unknown>)[] = [];
// Last started, first stopped: nodes, then the relay, then keyward, then NATS. Each one is
// bounded, so one that hangs (keyward draining towards a stopped NATS) cannot keep the rest,
// and the nats-server above all, running.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cleanup().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
  }
}, 60_000);

interface Pair {
  readonly userId: string;
  readonly accessId: string;
  readonly secret: string;
}

const pairOf = (userId: string, result: Record<string, unknown>): Pair => ({ userId, accessId: String(result.accessId), secret: String(result.accessSecret) });

interface RelayProcess {
  /** SIGKILL: no goodbye, whatever it was writing is cut off. */
  kill(): Promise<void>;
}

interface World {
  readonly nats: NatsServer;
  readonly kw: Keyward;
  /** `keyward relay`, started through the CLI, resolved once it says `relay ready`. */
  relay(): Promise<RelayProcess>;
  nodes(count: number, label?: string): Promise<ProxyNodeProcess[]>;
  /**
   * A command sent until it gets an answer: a request lost to a NATS outage is sent again
   * with the same commandId, which records nothing new and answers as the first time did.
   */
  command(subject: string, body: Record<string, unknown>, deadlineMs?: number): Promise<Record<string, unknown>>;
  authorize(userId: string, policy?: Record<string, unknown>): Promise<Pair>;
  /** Resolves once keyward answers over NATS again (after a restart of the server). */
  serviceBack(): Promise<void>;
}

const world = async (): Promise<World> => {
  const nats = await startNatsServer();
  cleanups.push(() => nats.dispose());
  const kw = await startKeyward(nats.url);
  cleanups.push(() => kw.stop());
  ok(await kw.request('cmd.proxy.enable', { actor: admin, instanceId: INSTANCE, databaseAccount: { username: 'orders_proxy', password: 'proxy-pass-9' } }));

  const proxyKey = SealingKey.generate().exportBase64();
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('KEYWARD_'))),
    KEYWARD_NATS_URL: nats.url,
    KEYWARD_STORE: `sqlite:${join(kw.dir, 'keyward.db')}`,
    KEYWARD_MASTER_KEY: kw.ctx.masterKey.exportBase64(),
    KEYWARD_PROXY_KEY: proxyKey,
    KEYWARD_HTTP_PORT: 'off',
  };

  const relay = async (): Promise<RelayProcess> => {
    const child = spawn(process.execPath, ['--import', 'tsx', RELAY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        process.off('exit', killOnExit);
        resolve();
      });
    });
    const kill = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    };
    cleanups.push(kill);
    let output = '';
    const keep = (text: string): void => {
      output = (output + text).slice(-OUTPUT_KEPT);
    };
    child.stderr.setEncoding('utf8').on('data', keep);
    let timer: NodeJS.Timeout | undefined;
    // Its log goes to stdout: read to the end, or a full pipe would stall it.
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        keep(`${line}\n`);
        if (line.includes('relay ready')) resolve();
      });
      void exited.then(() => { reject(new Error(`the relay exited before it was ready\n${output}`)); });
      timer = setTimeout(() => { reject(new Error(`the relay was not ready after 30 s\n${output}`)); }, 30_000);
    }).finally(() => { clearTimeout(timer); });
    return { kill };
  };

  let started = 0;
  const nodes = (count: number, label = 'node'): Promise<ProxyNodeProcess[]> =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const node = await startProxyNodeProcess({ natsUrl: nats.url, proxyKey, instances: [INSTANCE], nodeId: `${label}-${String(++started)}` });
        cleanups.push(() => node.stop());
        return node;
      }),
    );

  const command = async (subject: string, body: Record<string, unknown>, deadlineMs = 30_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      let answer: Answer;
      try {
        answer = await kw.request(subject, body);
      } catch (e) {
        // A timeout, or no responder while the service's subscriptions come back.
        if (Date.now() > deadline) throw e;
        await sleep(200);
        continue;
      }
      return ok(answer);
    }
  };

  const authorize = async (userId: string, policy: Record<string, unknown> = { type: 'system' }): Promise<Pair> =>
    pairOf(userId, await command('cmd.authorize', { commandId: `authorize-${userId}`, actor: admin, instanceId: INSTANCE, userId, policy }));

  // Until keyward's connections are back a request can be lost, and then it only times out
  // (5 s); asking for health with a short timeout finds the moment sooner.
  const serviceBack = async (): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await kw.client.request('keyward.health', '{}', { timeout: 300 });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
  };

  return { nats, kw, relay, nodes, command, authorize, serviceBack };
};

const outcome = (line: VerifyLine): string => (line.ok ? 'ok' : line.reason === 'revoked' ? `revoked:${line.revokedReason ?? '?'}` : line.reason);

type Seen = (node: ProxyNodeProcess, pair: Pair, line: VerifyLine) => void;

/** Asks every node about every pair once, all at once; each answer is also passed to `seen`. */
const ask = async (nodes: readonly ProxyNodeProcess[], pairs: readonly Pair[], seen: Seen = () => undefined) =>
  (
    await Promise.all(
      nodes.map((node) =>
        Promise.all(
          pairs.map(async (pair) => {
            const line = await node.verify(pair.accessId, pair.secret);
            seen(node, pair, line);
            return { node: node.nodeId, user: pair.userId, outcome: outcome(line) };
          }),
        ),
      ),
    )
  ).flat();

/**
 * Asks until every node answers `expected` (an outcome() string) for every pair, up to
 * timeoutMs (0: once). `seen` gets every answer on the way, for what must never happen.
 */
const until = async (nodes: readonly ProxyNodeProcess[], pairs: readonly Pair[], expected: string, timeoutMs: number, seen?: Seen): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const wrong = (await ask(nodes, pairs, seen)).filter((a) => a.outcome !== expected);
    if (wrong.length === 0) return;
    if (Date.now() > deadline) {
      const logs = nodes.filter((n) => wrong.some((a) => a.node === n.nodeId)).map((n) => `--- ${n.nodeId} stderr (end) ---\n${n.stderr().slice(-2_000)}`);
      throw new Error(`not within ${timeoutMs} ms: every node answers ${expected}; still: ${JSON.stringify(wrong.slice(0, 10))}${wrong.length > 10 ? ` and ${String(wrong.length - 10)} more` : ''}\n${logs.join('\n')}`);
    }
    await sleep(100);
  }
};

/** The invalidated lines of each node for these AccessIDs, as `user:reason`, sorted. */
const invalidations = (nodes: readonly ProxyNodeProcess[], pairs: readonly Pair[]): Record<string, string[]> => {
  const ids = new Set(pairs.map((p) => p.accessId));
  return Object.fromEntries(
    nodes.map((n) => [
      n.nodeId,
      n.invalidated
        .filter((l) => ids.has(l.accessId))
        .map((l) => `${l.userId}:${l.reason}`)
        .sort(),
    ]),
  );
};

const everyNode = (nodes: readonly ProxyNodeProcess[], value: string[]): Record<string, string[]> => Object.fromEntries(nodes.map((n) => [n.nodeId, value]));

describe('proxy nodes in processes of their own', () => {
  it('a revocation reaches every node: each refuses the key and prints that it stopped being valid', { timeout: 60_000 }, async () => {
    const w = await world();
    await w.relay();
    const nodes = await w.nodes(3);
    const bob = await w.authorize('bob');
    await until(nodes, [bob], 'ok', DELIVERY_MS);
    for (const node of nodes) {
      expect(await node.verify(bob.accessId, bob.secret)).toEqual({ kind: 'verify', instanceId: INSTANCE, accessId: bob.accessId, ok: true, userId: 'bob', username: 'orders_proxy' });
    }
    await until(nodes, [{ ...bob, secret: `${bob.secret.slice(0, -1)}x` }], 'wrong-secret', 0);

    ok(await w.kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'bob', mode: 'recycle' }));
    await until(nodes, [bob], 'revoked:recycled', DELIVERY_MS);
    for (const node of nodes) {
      expect(await node.verify(bob.accessId, bob.secret)).toEqual({ kind: 'verify', instanceId: INSTANCE, accessId: bob.accessId, ok: false, reason: 'revoked', revokedReason: 'recycled' });
      expect(node.invalidated).toEqual([{ kind: 'invalidated', instanceId: INSTANCE, accessId: bob.accessId, userId: 'bob', reason: 'recycled' }]);
    }
  });

  it('a rotation: at every node the old pair is refused and the new one accepted', { timeout: 60_000 }, async () => {
    const w = await world();
    await w.relay();
    const nodes = await w.nodes(3);
    const old = await w.authorize('carol');
    await until(nodes, [old], 'ok', DELIVERY_MS);

    const rotated = ok(await w.kw.request('cmd.rotate', { actor: admin, instanceId: INSTANCE, userId: 'carol' }));
    expect(rotated.previousAccessId).toBe(old.accessId);
    const current = pairOf('carol', rotated);
    expect(current.accessId).not.toBe(old.accessId);
    await until(nodes, [old], 'revoked:rotated', DELIVERY_MS);
    await until(nodes, [current], 'ok', DELIVERY_MS);
    expect(invalidations(nodes, [old, current])).toEqual(everyNode(nodes, ['carol:rotated']));
  });

  it('an expire-policy key is refused once its time has passed, by each node\'s own clock, with NATS stopped', { timeout: 60_000 }, async () => {
    const w = await world();
    await w.relay();
    const nodes = await w.nodes(3);
    const notAfterMs = Date.now() + 6_000;
    const dave = await w.authorize('dave', { type: 'expire', expiresAt: new Date(notAfterMs).toISOString() });
    // Before notAfter, with a second to spare for stopping NATS.
    await until(nodes, [dave], 'ok', notAfterMs - Date.now() - 1_500);

    await w.nats.stop();
    // Cut off, before the time: still accepted from memory (the staleness bound is 30 s).
    expect(Date.now()).toBeLessThan(notAfterMs - 1_000);
    await until(nodes, [dave], 'ok', 0);
    const early: string[] = [];
    await until(nodes, [dave], 'expired', notAfterMs - Date.now() + 5_000, (node, _pair, line) => {
      // Observed before notAfter, a refusal was decided before it too: too early.
      if (!line.ok && Date.now() < notAfterMs) early.push(`${node.nodeId}: ${outcome(line)}`);
    });
    expect(early).toEqual([]);
    expect(invalidations(nodes, [dave])).toEqual(everyNode(nodes, ['dave:expired']));

    // NATS back: the nodes reload KV (a key authorized afterwards shows they have), and the
    // expired key stays refused.
    await w.nats.restart();
    await w.serviceBack();
    const erin = await w.authorize('erin');
    await until(nodes, [erin], 'ok', RECOVERY_MS);
    await until(nodes, [dave], 'expired', 0);
  });

  it('a node started after the revocation never accepts the revoked key, not even after a relay replays the history', { timeout: 60_000 }, async () => {
    const w = await world();
    const relay = await w.relay();
    const [witness] = await w.nodes(1, 'witness');
    if (witness === undefined) throw new Error('no node');
    const frank = await w.authorize('frank');
    await until([witness], [frank], 'ok', DELIVERY_MS);
    ok(await w.kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'frank', mode: 'release' }));
    // The witness refusing means KV holds the revoked value.
    await until([witness], [frank], 'revoked:released', DELIVERY_MS);

    const late = await w.nodes(2, 'late');
    await until(late, [frank], 'revoked:released', 0);

    // A new relay reads the whole history from position 0 and reconciles the bucket.
    await relay.kill();
    await w.relay();
    const grace = await w.authorize('grace');
    await until([witness, ...late], [grace], 'ok', DELIVERY_MS);
    await until([witness, ...late], [frank], 'revoked:released', 0);
    // It only ever saw the revoked value: it never held the key as valid, so it never
    // printed that the key stopped being valid.
    expect(invalidations(late, [frank])).toEqual(everyNode(late, []));
    expect(invalidations([witness], [frank])).toEqual(everyNode([witness], ['frank:released']));
  });

  it('NATS killed and restarted in the middle of a burst of revocations: afterwards every node refuses every revoked key', { timeout: 90_000 }, async () => {
    const w = await world();
    await w.relay();
    const nodes = await w.nodes(3);
    const users = Array.from({ length: 30 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
    const pairs: Pair[] = [];
    for (const userId of users) pairs.push(await w.authorize(userId));
    await until(nodes, pairs, 'ok', DELIVERY_MS);

    // Once a node refuses a key, it must never accept it again, whatever happens on the way.
    const refusedAt = new Set<string>();
    const undone: string[] = [];
    const watch = (node: ProxyNodeProcess, pair: Pair, line: VerifyLine): void => {
      const at = `${node.nodeId}/${pair.userId}`;
      if (!line.ok) refusedAt.add(at);
      else if (refusedAt.has(at)) undone.push(at);
    };

    // All sent at once, spread over about a second so the outage falls inside the burst.
    let answered = 0;
    const revocations = Promise.all(
      pairs.map(async (pair, i) => {
        await sleep(i * 30);
        await w.command('cmd.revoke', { commandId: `revoke-${pair.userId}`, actor: admin, instanceId: INSTANCE, userId: pair.userId, mode: 'recycle' }, 45_000);
        answered++;
      }),
    );
    // Awaited below; this only keeps a test that fails before then from an unhandled rejection.
    revocations.catch(() => undefined);
    // The nodes are asked all along, through the outage too. An object, not a `let`: it
    // changes across awaits, which narrowing cannot see.
    const burst = { on: true };
    const asking = (async () => {
      while (burst.on) {
        await ask(nodes, pairs, watch);
        await sleep(50);
      }
    })();
    asking.catch(() => undefined);
    let answeredBeforeOutage: number;
    try {
      const deadline = Date.now() + 10_000;
      while (answered < 5 && Date.now() < deadline) await sleep(10);
      answeredBeforeOutage = answered;
      // Killed, not stopped: what was on its way to the server is lost, not answered. Down for
      // longer than a JetStream request waits (5 s), so the relay's writes of the revocations it
      // had in hand fail rather than wait, and must be made again once NATS is back.
      const pid = w.nats.pid;
      if (pid === undefined) throw new Error('nats-server is not running');
      process.kill(pid, 'SIGKILL');
      await sleep(OUTAGE_MS);
      await w.nats.restart();
      await revocations;
    } finally {
      burst.on = false;
      await asking;
    }
    // The outage did fall inside the burst.
    expect(answeredBeforeOutage).toBeGreaterThan(0);
    expect(answeredBeforeOutage).toBeLessThan(pairs.length);

    await until(nodes, pairs, 'revoked:recycled', RECOVERY_MS, watch);
    // And they stay refused: a few more rounds, now that relay and nodes have all reconnected.
    for (let round = 0; round < 3; round++) {
      await sleep(300);
      await until(nodes, pairs, 'revoked:recycled', 0, watch);
    }
    expect(undone).toEqual([]);
    expect(invalidations(nodes, pairs)).toEqual(everyNode(nodes, users.map((u) => `${u}:recycled`)));
  });

  it('the relay killed with SIGKILL right after an append: once restarted, every node refuses the revoked keys and accepts the current one', { timeout: 60_000 }, async () => {
    const w = await world();
    const relay = await w.relay();
    const nodes = await w.nodes(3);
    const old = await w.authorize('henry');
    const ivy = await w.authorize('ivy');
    await until(nodes, [old, ivy], 'ok', DELIVERY_MS);

    // The reply comes once the rotation is recorded; the relay is killed at once, while it is
    // (or has not yet begun) writing it to KV.
    const current = pairOf('henry', ok(await w.kw.request('cmd.rotate', { actor: admin, instanceId: INSTANCE, userId: 'henry' })));
    await relay.kill();
    // And one more change with no relay running at all.
    ok(await w.kw.request('cmd.revoke', { actor: admin, instanceId: INSTANCE, userId: 'ivy', mode: 'recycle' }));

    await w.relay();
    await until(nodes, [old], 'revoked:rotated', DELIVERY_MS);
    await until(nodes, [ivy], 'revoked:recycled', DELIVERY_MS);
    await until(nodes, [current], 'ok', DELIVERY_MS);
    expect(invalidations(nodes, [old, ivy, current])).toEqual(everyNode(nodes, ['henry:rotated', 'ivy:recycled']));
  });
});
