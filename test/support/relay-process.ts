// `keyward relay` as a child process for the relay's crash tests, through the CLI as an
// operator runs it.
import { runCli } from '../../src/cli/cli.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { processIo } from '../../src/cli/io.js';

process.exitCode = await runCli(COMMANDS, ['relay'], processIo());
