// `keyward serve`: the service itself, exactly as `npm start` runs it, so one installed binary
// serves both operators and the deployment.
import type { CliCommand } from '../command.js';
import { printFailure } from '../command.js';

export const SERVE: CliCommand = {
  words: ['serve'],
  group: 'Service',
  summary: 'run the keyward service (settings from the environment, as npm start)',
  help: () =>
    [
      'keyward serve: run the keyward service until SIGTERM or SIGINT',
      '',
      'Usage: keyward serve',
      '',
      'Settings come from the environment only: KEYWARD_NATS_URL, KEYWARD_PREFIX, KEYWARD_STORE,',
      'KEYWARD_MASTER_KEY (or KEYWARD_DEV=1), KEYWARD_SQLITE_SYNCHRONOUS, KEYWARD_HTTP_PORT,',
      'KEYWARD_LOG_LEVEL (README). It exits 1 when a setting is unusable.',
    ].join('\n'),
  run: async (argv, io) => {
    if (argv.length > 0) return printFailure(io, false, { code: 'USAGE', message: 'keyward serve takes no flags; its settings come from the environment (see keyward serve --help)', details: [] });
    await import('../../main.js');
    // main.ts ends the process itself when told to stop: until then this command is running,
    // not finished (the CLI ends a finished command's process).
    return new Promise<number>(() => undefined);
  },
};
