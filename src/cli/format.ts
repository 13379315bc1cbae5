// Readable output: aligned tables for lists, key/value rows for one result. Values come from
// the service and may hold free text (a ticket's reason), so control characters never reach
// the terminal.
export const NONE = '-';

export const show = (v: unknown): string => {
  if (v === null || v === undefined || v === '') return NONE;
  const text = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return text.replace(/\p{Cc}/gu, ' ');
};

export const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const aligned = (rows: readonly (readonly string[])[]): string => {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
};

/** One row per item under a header; a `next page` line when the service has more. */
export const table = (headers: readonly string[], rows: readonly (readonly string[])[], nextCursor?: unknown): string => {
  const body = rows.length === 0 ? `${aligned([headers])}\n(none)` : aligned([headers, ...rows]);
  return typeof nextCursor === 'string' ? `${body}\n\nmore: --cursor ${show(nextCursor)}` : body;
};

export const fields = (rows: readonly (readonly [string, unknown])[]): string => aligned(rows.map(([k, v]) => [k, show(v)]));

export const duration = (seconds: number): string => {
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.length === 0 ? '0s' : parts.join('');
};

type Loose = Record<string, unknown> | null | undefined;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

// The product's three policies in words; anything else (a newer service) as its JSON.
export const policyText = (policy: unknown): string => {
  const p = policy as Loose;
  const interval = num(p?.intervalSeconds);
  const overlap = num(p?.overlapSeconds) ?? 0;
  if (p?.type === 'system') return 'system';
  if (p?.type === 'rotate' && interval !== undefined) return `rotate every ${duration(interval)}${overlap > 0 ? `, overlap ${duration(overlap)}` : ''}`;
  if (p?.type === 'expire') return `expire at ${show(p.expiresAt)}`;
  return show(policy);
};

export const accountText = (account: unknown): string => {
  const a = account as Loose;
  if (a?.custom === undefined) return show(account);
  return a.custom === true ? `${show(a.username)} (custom)` : a.username === undefined ? 'default' : `${show(a.username)} (default)`;
};

export const originText = (origin: unknown): string => {
  const o = origin as Loose;
  if (o?.type === 'direct') return `direct by ${show(o.by)}`;
  if (o?.type === 'ticket') return `ticket ${show(o.ticketId)}, approved by ${show(o.approvedBy)}`;
  return show(origin);
};

export const itemsOf = (result: Record<string, unknown>): readonly Record<string, unknown>[] =>
  Array.isArray(result.items) ? result.items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null) : [];
