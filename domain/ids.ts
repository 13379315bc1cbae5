import { pattern } from './codec.js';

// Ids appear in NATS subjects, KV keys and stream names, hence the narrow alphabet: no `.`,
// `*`, `>` or `:` can reach a subject or split a stream name.
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const idMessage = 'must be 1–64 characters of A–Z, a–z, 0–9, _ or -';

export type InstanceId = string;
export type UserId = string;
export type TicketId = string;
export type AccessId = string;
export type CommandId = string;

export const InstanceId = pattern('InstanceId', ID, idMessage);
export const UserId = pattern('UserId', ID, idMessage);
export const TicketId = pattern('TicketId', ID, idMessage);
export const AccessId = pattern('AccessId', /^[A-Za-z0-9]{24}$/, 'must be 24 characters of A–Z, a–z or 0–9');
export const CommandId = pattern('CommandId', /^[\x20-\x7e]{1,128}$/, 'must be 1–128 printable ASCII characters');
