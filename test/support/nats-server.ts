// A real nats-server for integration tests, after nats.js's nst/src/launcher.ts: a free port
// on 127.0.0.1, a temporary JetStream directory, and no "ready" until the server answers.
// Dispose it in `finally` or with `await using`, so a failing test never leaves it running.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, Empty } from 'nats';

export interface NatsServerOptions {
  /** Defaults to NATS_SERVER_BIN, else `nats-server` on the PATH (CI installs Debian's). */
  readonly binary?: string;
  /** Appended to the command line; tests use it to make a start fail. */
  readonly args?: readonly string[];
  readonly readyTimeoutMs?: number;
  /** What the readiness probe connects with, for a server started with credentials. */
  readonly probe?: { readonly user: string; readonly pass: string };
}

export interface NatsServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The running process, or undefined once stopped. */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  /** Same port and JetStream directory, so reconnecting clients and stored streams carry on. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

const HOST = '127.0.0.1';
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEPT = 16_384;

// Closing the probe before the server binds leaves a short race with other processes that
// ask for port 0; the server name check in waitUntilReady catches the loser of it.
/** A port nothing listens on right now (for a server a test starts, or one it wants absent). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => { resolve(port); });
    });
  });

interface Running {
  readonly child: ChildProcess;
  /** Listened for from the spawn on: a server that fails at once is gone before anyone asks. */
  readonly exited: Promise<string>;
  readonly stderr: () => string;
}

const launch = (binary: string, args: readonly string[]): Running => {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // The server logs to stderr; an undrained pipe would stall it once the buffer fills.
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_KEPT); });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => { resolve(error.message); });
    child.once('exit', (code, signal) => { resolve(signal === null ? `exit code ${code ?? '?'}` : `signal ${signal}`); });
  });
  // A test process that dies without disposing must not leave servers behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  return { child, exited, stderr: () => stderr };
};

class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
}

// Ready means a client completes the handshake with *our* server (by name, not just the port)
// and JetStream answers its API, which it only does once the store directory is recovered.
const waitUntilReady = async (running: Running, url: string, name: string, timeoutMs: number, probe: NatsServerOptions['probe']): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  let exit: string | undefined;
  void running.exited.then((how) => { exit = how; });
  let lastError: unknown;
  for (;;) {
    if (exit !== undefined) throw new NotReadyError(`nats-server exited before it was ready (${exit})`);
    if (Date.now() > deadline) throw new NotReadyError(`nats-server was not ready after ${timeoutMs} ms (last: ${String(lastError)})`);
    try {
      const nc = await connect({ ...probe, servers: url, reconnect: false, timeout: 1000 });
      try {
        if (nc.info?.server_name !== name) throw new Error(`another server answers on ${url}: ${nc.info?.server_name ?? '?'}`);
        await nc.request('$JS.API.INFO', Empty, { timeout: 1000 });
        return;
      } finally {
        await nc.close();
      }
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
};

const stopProcess = async (running: Running): Promise<void> => {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  // The timer is cancelled once the server has exited, or it would hold the process open.
  const cancel = new AbortController();
  const timedOut = await Promise.race([running.exited.then(() => false), sleep(STOP_TIMEOUT_MS, true, { signal: cancel.signal }).catch(() => false)]);
  cancel.abort();
  if (timedOut) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
};

export const startNatsServer = async (options: NatsServerOptions = {}): Promise<NatsServer> => {
  const binary = options.binary ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const storeDir = await mkdtemp(join(tmpdir(), 'keyward-nats-'));
  const name = `keyward-test-${randomUUID()}`;
  let port = 0;
  let url = '';
  let running: Running | undefined;

  const startOn = async (chosen: number): Promise<void> => {
    const address = `nats://${HOST}:${chosen}`;
    const args = ['-a', HOST, '-p', String(chosen), '-js', '-sd', storeDir, '-n', name, ...(options.args ?? [])];
    const attempt = launch(binary, args);
    running = attempt;
    try {
      await waitUntilReady(attempt, address, name, readyTimeoutMs, options.probe);
    } catch (error) {
      await stopProcess(attempt);
      running = undefined;
      const hint = attempt.child.pid === undefined ? ` (is ${binary} installed? apt-get install nats-server, or set NATS_SERVER_BIN)` : '';
      const message = error instanceof NotReadyError ? error.message : String(error);
      throw new Error(`${binary} ${args.join(' ')}: ${message}${hint}\n--- nats-server stderr ---\n${attempt.stderr()}`, { cause: error });
    }
    port = chosen;
    url = address;
  };

  const stop = async (): Promise<void> => {
    const current = running;
    running = undefined;
    if (current !== undefined) await stopProcess(current);
  };

  const dispose = async (): Promise<void> => {
    try {
      await stop();
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  };

  // Only a fresh start may move to another port: restart promises the same one.
  for (let attempt = 1; ; attempt++) {
    try {
      await startOn(await freePort());
      break;
    } catch (error) {
      const portTaken = error instanceof Error && /address already in use|another server answers/.test(error.message);
      if (portTaken && attempt < 3) continue;
      await dispose();
      throw error;
    }
  }

  return {
    get url() { return url; },
    get port() { return port; },
    storeDir,
    get pid() { return running?.child.pid; },
    stop,
    restart: async () => {
      await stop();
      await startOn(port);
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
};
