// `keyward serve | relay | scheduler`: the long-running parts of keyward, each run until
// SIGTERM or SIGINT, with settings from the environment only (README), so one installed
// binary serves both operators and the deployment.
import type { CliCommand } from '../command.js';
import { printFailure } from '../command.js';
import { ExitCode } from '../exit-codes.js';

const longRunning = (spec: { readonly word: string; readonly summary: string; readonly what: string; readonly settings: readonly string[]; start(): Promise<number> }): CliCommand => {
  const name = `keyward ${spec.word}`;
  return {
    words: [spec.word],
    group: 'Service',
    summary: spec.summary,
    help: () => [`${name}: run ${spec.what} until SIGTERM or SIGINT`, '', `Usage: ${name}`, '', ...spec.settings].join('\n'),
    run: async (argv, io) => {
      if (argv.length > 0) return printFailure(io, false, { code: 'USAGE', message: `${name} takes no flags; its settings come from the environment (see ${name} --help)`, details: [] });
      return (await spec.start()) === 0 ? ExitCode.OK : ExitCode.FAILED;
    },
  };
};

export const SERVE = longRunning({
  word: 'serve',
  summary: 'run the keyward service (settings from the environment, as npm start)',
  what: 'the keyward service',
  settings: [
    'Settings come from the environment only: KEYWARD_NATS_URL, KEYWARD_PREFIX, KEYWARD_STORE,',
    'KEYWARD_MASTER_KEY (or KEYWARD_DEV=1), KEYWARD_SQLITE_SYNCHRONOUS, KEYWARD_HTTP_PORT,',
    'KEYWARD_LOG_LEVEL (README). It exits 1 when a setting is unusable.',
  ],
  start: async () => {
    await import('../../main.js');
    // main.ts ends the process itself when told to stop: until then this command is running,
    // not finished (the CLI ends a finished command's process).
    return new Promise<number>(() => undefined);
  },
});

export const RELAY = longRunning({
  word: 'relay',
  summary: 'run the relay alone: the event store mirrored into the keys bucket and the events stream',
  what: 'the relay',
  settings: [
    'Settings come from the environment, as for keyward serve: KEYWARD_NATS_URL, KEYWARD_PREFIX,',
    'KEYWARD_STORE, KEYWARD_MASTER_KEY, KEYWARD_PROXY_KEY (or KEYWARD_DEV=1 for both),',
    'KEYWARD_JETSTREAM_REPLICAS, KEYWARD_LOG_LEVEL (README). It exits 1 when a setting is unusable.',
  ],
  start: async () => (await import('../../relay/main.js')).runRelay(process.env),
});

export const SCHEDULER = longRunning({
  word: 'scheduler',
  summary: 'run the scheduler alone: scheduled rotations and expiries, recorded as they fall due',
  what: 'the scheduler',
  settings: [
    'Settings come from the environment, as for keyward serve: KEYWARD_STORE, KEYWARD_MASTER_KEY',
    '(or KEYWARD_DEV=1), KEYWARD_LOG_LEVEL (README). It needs no NATS server. Several schedulers',
    'may run at once (each service process runs one unless KEYWARD_SCHEDULER=off): each due time',
    'is still served once. It exits 1 when a setting is unusable.',
  ],
  start: async () => (await import('../../scheduler/main.js')).runScheduler(process.env),
});
