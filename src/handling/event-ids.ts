import { createHash } from 'node:crypto';

/**
 * The id of the index-th event a command records in a stream, as a UUID (version 8, custom),
 * derived from the commandId: a command retried after a lost reply appends the same ids,
 * which the store recognizes and records once.
 */
export const eventIdFor = (commandId: string, streamId: string, index: number): string => {
  const h = createHash('sha256').update(`${commandId}\u0000${streamId}\u0000${index}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x80;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
};
