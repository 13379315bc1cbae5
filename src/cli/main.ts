#!/usr/bin/env node
// `npx keyward <command>`: the operator CLI, another client of the NATS API (API.md).
import { runCli } from './cli.js';
import { COMMANDS } from './commands/index.js';
import { processIo } from './io.js';

process.exitCode = await runCli(COMMANDS, process.argv.slice(2), processIo());
// A command that has finished ends the process, even if a library still holds something
// open: a NATS client waiting for its first connection cannot be cancelled, and a proxy node
// told to stop before NATS ever answered would otherwise never exit. Armed once stdout has
// taken everything written (a pipe to a slow reader is asynchronous on some systems), and
// unref'd: it only fires when something else keeps the process alive.
process.stdout.write('', () => {
  setTimeout(() => process.exit(), 2000).unref();
});
