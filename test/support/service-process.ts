// `npm start`'s entry point (src/main.ts) as a child process, for the suites that need the
// service as an operator runs it: its own environment, stdout and exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = join(import.meta.dirname, '../../src/main.ts');

/** `npm start`'s entry point as a child process, resolved once it says it is serving. */
export const startProcess = (env: Record<string, string>, stdout: string[] = []): { child: ChildProcess; serving: Promise<void>; exited: Promise<number | null>; stderr: string[] } => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, KEYWARD_HTTP_PORT: 'off', KEYWARD_CONSOLE: 'off', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  const serving = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      stdout.push(l);
      if (l.includes('keyward is serving')) resolve();
    });
    void exited.then((code) => { reject(new Error(`keyward exited with ${String(code)}: ${stderr.join('\n')}`)); });
  });
  return { child, serving, exited, stderr };
};

