// Auditors: `access-at` answered by replaying a history of 1,000,000 events (test/bench/
// audit-history.ts says how it is made), in a process of its own for its time and peak
// memory, beside the floor of reading and parsing the same rows with bare better-sqlite3 in
// the same run. Aim: under 5 s and under 500 MB on the 2-core development machine.
//
//   npm run bench -- audit
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { progress } from '../../src/cli/progress.js';
import { HISTORY_EVENTS, HISTORY_START, writeHistory } from './audit-history.js';
import { report, table } from './report.js';

const CHILD = join(import.meta.dirname, 'audit-replay-child.ts');

interface Measured {
  readonly seconds: number;
  readonly events: number;
  readonly answer: number;
  readonly peakRssMb: number;
}

const run = (path: string, what: 'access-at' | 'raw', at: string): Measured =>
  JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', CHILD, path, what, 'db-3', at], { encoding: 'utf8' })) as Measured;

export const auditBench = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-'));
  try {
    const path = join(dir, 'history.db');
    const shown = progress('writing the history');
    await writeHistory(path, (done) => { shown.update(done, HISTORY_EVENTS); });
    shown.finish();
    // Six hours after the history begins: many users in mid-rotation, some not yet authorized.
    const at = new Date(Date.parse(HISTORY_START) + 6 * 3600_000).toISOString();
    const raw = run(path, 'raw', at);
    const replay = run(path, 'access-at', at);
    report(`auditors: access-at over ${HISTORY_EVENTS.toLocaleString('en-US')} events (each in a process of its own)`, [
      { name: 'replay for access-at (read, decode, access projection)', count: replay.events, seconds: replay.seconds, baselineName: 'raw SELECT + JSON.parse, same rows', baselineSeconds: raw.seconds },
    ]);
    table('auditors: the aim', ['measured', 'time', 'peak memory (RSS)', 'aim', 'met'], [
      ['replay for access-at', `${replay.seconds.toFixed(2)} s`, `${Math.round(replay.peakRssMb)} MB`, '< 5 s, < 500 MB', replay.seconds < 5 && replay.peakRssMb < 500 ? 'yes' : 'NO'],
      ['floor (bare read + parse)', `${raw.seconds.toFixed(2)} s`, `${Math.round(raw.peakRssMb)} MB`, '', ''],
    ], 4);
    process.stdout.write(`(${replay.answer} users held a valid key on db-3 at ${at})\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
