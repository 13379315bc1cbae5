// `keyward proxy-node` as a child process, driven through its line protocol as an operator or
// a proxy would: "proxy-node ready" once loaded, then one JSON answer per stdin line
// `instanceId accessId secret`, and `{"kind":"invalidated",...}` lines whenever a key stops
// being valid. Stop it from afterEach: a failing test must not leave nodes running.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface AcceptedLine {
  readonly kind: 'verify';
  readonly instanceId: string;
  readonly accessId: string;
  readonly ok: true;
  readonly userId: string;
  readonly username: string;
}

export interface RefusedLine {
  readonly kind: 'verify';
  readonly instanceId: string;
  readonly accessId: string;
  readonly ok: false;
  readonly reason: string;
  /** With reason `revoked`: rotated, recycled, released, expired, proxy-disabled. */
  readonly revokedReason?: string;
}

export type VerifyLine = AcceptedLine | RefusedLine;

export interface InvalidatedLine {
  readonly kind: 'invalidated';
  readonly instanceId: string;
  readonly accessId: string;
  readonly userId: string;
  readonly reason: string;
}

export interface ProxyNodeProcessOptions {
  readonly natsUrl: string;
  /** KEYWARD_PROXY_KEY, the relay's: base64 of 32 bytes. */
  readonly proxyKey: string;
  readonly instances: readonly [string, ...string[]];
  /** Also the label in error messages. */
  readonly nodeId: string;
  readonly stalenessMs?: number;
  /** Default 30 s: several tsx children starting at once on two cores are slow. */
  readonly readyTimeoutMs?: number;
  /** More settings for the node (NATS credentials, say). */
  readonly env?: Record<string, string>;
}

export interface ProxyNodeProcess {
  readonly nodeId: string;
  readonly pid: number | undefined;
  /** Asks the node about one pair; its answer line, parsed. Instance: the first one served. */
  verify(accessId: string, secret: string, instanceId?: string): Promise<VerifyLine>;
  /** Every invalidated line printed so far, in order. */
  readonly invalidated: readonly InvalidatedLine[];
  /** The end of its log (stderr), for failure messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s; the exit code (null when killed). */
  stop(): Promise<number | null>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STDERR_KEPT = 16_384;
// A node answers at once; this only bounds a stuck one, on a machine that may be busy.
const ANSWER_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

// The test process's own KEYWARD_ settings must not leak into the node.
const cleanEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('KEYWARD_')));

interface Pending {
  readonly resolve: (line: VerifyLine) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export const startProxyNodeProcess = async (options: ProxyNodeProcessOptions): Promise<ProxyNodeProcess> => {
  const { nodeId, instances } = options;
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'proxy-node', ...instances.flatMap((i) => ['--instance', i]), '--nats', options.natsUrl, '--node-id', nodeId];
  if (options.stalenessMs !== undefined) args.push('--staleness-ms', String(options.stalenessMs));
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...cleanEnv(), KEYWARD_PROXY_KEY: options.proxyKey, KEYWARD_LOG_LEVEL: 'info', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  // A test process that dies without stopping its nodes must not leave them behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let exit: string | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      exit = e.message;
      resolve(null);
    });
    child.once('exit', (code, signal) => {
      exit = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
      resolve(code);
    });
  });
  void exited.then(() => process.off('exit', killOnExit));

  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
  });
  // A node that exits while a write is on its way must not crash the test process with EPIPE.
  child.stdin.on('error', () => undefined);

  const invalidated: InvalidatedLine[] = [];
  let broken: string | undefined;
  const pending: Pending[] = [];
  const failAll = (why: string): void => {
    for (const p of pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new Error(`proxy node ${nodeId}: ${why}\n--- its stderr ---\n${stderr}`));
    }
  };
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    if (line === 'proxy-node ready') {
      markReady();
      return;
    }
    let parsed: { kind?: unknown };
    try {
      parsed = JSON.parse(line) as { kind?: unknown };
    } catch {
      broken = `printed a line that is not JSON: ${line}`;
      failAll(broken);
      return;
    }
    if (parsed.kind === 'invalidated') {
      invalidated.push(parsed as InvalidatedLine);
      return;
    }
    // The node answers stdin lines one by one, in order: the oldest question gets this answer.
    const head = pending.shift();
    if (head === undefined) return;
    clearTimeout(head.timer);
    if (parsed.kind === 'verify') head.resolve(parsed as VerifyLine);
    else head.reject(new Error(`proxy node ${nodeId} answered ${line}`));
  });
  void exited.then(() => {
    failAll(`exited (${exit ?? '?'})`);
  });

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  let readyTimer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => {
      readyTimer = setTimeout(() => { resolve('timeout'); }, readyTimeoutMs);
    }),
  ]);
  clearTimeout(readyTimer);
  if (outcome !== 'ready') {
    await stop();
    throw new Error(`proxy node ${nodeId} ${outcome === 'exited' ? `exited before it was ready (${exit ?? '?'})` : `was not ready after ${readyTimeoutMs} ms`}\n--- its stderr ---\n${stderr}`);
  }

  return {
    nodeId,
    pid: child.pid,
    invalidated,
    stderr: () => stderr,
    stop,
    verify: (accessId, secret, instanceId = instances[0]) =>
      new Promise<VerifyLine>((resolve, reject) => {
        if (exit !== undefined) {
          reject(new Error(`proxy node ${nodeId} has exited (${exit})`));
          return;
        }
        if (broken !== undefined) {
          reject(new Error(`proxy node ${nodeId}: ${broken}`));
          return;
        }
        // A late answer would be taken for the next question's: after a timeout, ask no more.
        const timer = setTimeout(() => {
          broken = `did not answer within ${ANSWER_TIMEOUT_MS} ms`;
          failAll(broken);
        }, ANSWER_TIMEOUT_MS);
        pending.push({ resolve, reject, timer });
        child.stdin.write(`${instanceId} ${accessId} ${secret}\n`);
      }),
  };
};
