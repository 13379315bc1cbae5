// `keyward scheduler`: the scheduler alone, apart from the service processes.
import type { CliCommand } from '../command.js';
import { printFailure } from '../command.js';
import { ExitCode } from '../exit-codes.js';

export const SCHEDULER: CliCommand = {
  words: ['scheduler'],
  group: 'Service',
  summary: 'run the scheduler alone: scheduled rotations and expiries, recorded as they fall due',
  help: () =>
    [
      'keyward scheduler: run the scheduler until SIGTERM or SIGINT',
      '',
      'Usage: keyward scheduler',
      '',
      'Settings come from the environment, as for keyward serve: KEYWARD_STORE, KEYWARD_MASTER_KEY',
      '(or KEYWARD_DEV=1), KEYWARD_LOG_LEVEL (README). It needs no NATS server. Several schedulers',
      'may run at once (each service process runs one unless KEYWARD_SCHEDULER=off): each due time',
      'is still served once. It exits 1 when a setting is unusable.',
    ].join('\n'),
  run: async (argv, io) => {
    if (argv.length > 0) return printFailure(io, false, { code: 'USAGE', message: 'keyward scheduler takes no flags; its settings come from the environment (see keyward scheduler --help)', details: [] });
    const { runScheduler } = await import('../../scheduler/main.js');
    return (await runScheduler(process.env)) === 0 ? ExitCode.OK : ExitCode.FAILED;
  },
};
