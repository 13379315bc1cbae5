// `keyward relay`: the relay alone, for running it apart from the service processes.
import type { CliCommand } from '../command.js';
import { printFailure } from '../command.js';
import { ExitCode } from '../exit-codes.js';

export const RELAY: CliCommand = {
  words: ['relay'],
  group: 'Service',
  summary: 'run the relay alone: the event store mirrored into the keys bucket and the events stream',
  help: () =>
    [
      'keyward relay: run the relay until SIGTERM or SIGINT',
      '',
      'Usage: keyward relay',
      '',
      'Settings come from the environment, as for keyward serve: KEYWARD_NATS_URL, KEYWARD_PREFIX,',
      'KEYWARD_STORE, KEYWARD_MASTER_KEY, KEYWARD_PROXY_KEY (or KEYWARD_DEV=1 for both),',
      'KEYWARD_JETSTREAM_REPLICAS, KEYWARD_LOG_LEVEL (README). It exits 1 when a setting is unusable.',
    ].join('\n'),
  run: async (argv, io) => {
    if (argv.length > 0) return printFailure(io, false, { code: 'USAGE', message: 'keyward relay takes no flags; its settings come from the environment (see keyward relay --help)', details: [] });
    const { runRelay } = await import('../../relay/main.js');
    return (await runRelay(process.env)) === 0 ? ExitCode.OK : ExitCode.FAILED;
  },
};
