// `keyward relay` as a child process for the relay's crash tests.
import { runRelay } from '../../src/relay/main.js';

process.exitCode = await runRelay(process.env);
