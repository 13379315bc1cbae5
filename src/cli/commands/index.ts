// The dispatch table: every `keyward <words>` there is. A new subcommand (relay, scheduler,
// audit …, console) is one more CliCommand here; help and dispatch pick it up.
import type { CliCommand } from '../command.js';
import { AUDIT_COMMANDS } from './audit.js';
import { AUDIT_STATEMENTS } from './audit-statements.js';
import { AUDIT_TIMELINE } from './audit-timeline.js';
import { AUDIT_VERIFY } from './audit-verify.js';
import { CONSOLE_COMMANDS } from './console.js';
import { KEY_COMMANDS } from './keys.js';
import { MYSQL_PROXY } from './mysql-proxy.js';
import { PROXY_COMMANDS } from './proxy.js';
import { PROXY_NODE } from './proxy-node.js';
import { RELAY, SCHEDULER, SERVE } from './service.js';
import { TICKET_COMMANDS } from './tickets.js';

export const COMMANDS: readonly CliCommand[] = [SERVE, RELAY, SCHEDULER, ...PROXY_COMMANDS, ...KEY_COMMANDS, ...TICKET_COMMANDS, PROXY_NODE, MYSQL_PROXY, AUDIT_TIMELINE, ...AUDIT_COMMANDS, AUDIT_STATEMENTS, AUDIT_VERIFY, ...CONSOLE_COMMANDS];
