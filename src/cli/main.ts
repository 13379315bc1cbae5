#!/usr/bin/env node
// `npx keyward <command>`: the operator CLI, another client of the NATS API (API.md).
import { runCli } from './cli.js';
import { COMMANDS } from './commands/index.js';
import { processIo } from './io.js';

process.exitCode = await runCli(COMMANDS, process.argv.slice(2), processIo());
