// Prometheus text exposition format 0.0.4, written by hand: keyward needs three metrics, and
// a client library would bring a default registry, process collectors and a dependency for
// them. Format: https://prometheus.io/docs/instrumenting/exposition_formats/
type Labels<L extends string> = Readonly<Record<L, string>>;

export interface Counter<L extends string> {
  inc(labels: Labels<L>, n?: number): void;
}

export interface Histogram<L extends string> {
  observe(labels: Labels<L>, seconds: number): void;
}

export interface Gauge {
  set(value: number): void;
}

interface Family {
  readonly name: string;
  render(): string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (text: string): string => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

const formatNumber = (n: number): string =>
  Number.isNaN(n) ? 'NaN' : n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(n);

const formatLabels = (pairs: readonly (readonly [string, string])[]): string =>
  pairs.length === 0 ? '' : `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;

const header = (name: string, help: string, type: string): string[] => [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];

// Label values in declaration order, whatever order the caller's object literal used; a
// missing one is a bug in the caller, not a series to invent.
const valuesOf = <L extends string>(metric: string, labelNames: readonly L[], labels: Labels<L>): string[] =>
  labelNames.map((label) => {
    const value: unknown = labels[label];
    if (typeof value !== 'string') throw new TypeError(`${metric}: label ${label} must be a string`);
    return value;
  });

const checkLabelNames = (metric: string, labelNames: readonly string[], reserved: readonly string[] = []): void => {
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.includes(label)) throw new Error(`${metric}: invalid label name ${label}`);
  }
  if (new Set(labelNames).size !== labelNames.length) throw new Error(`${metric}: duplicate label names`);
};

export class Registry {
  readonly #families = new Map<string, Family>();

  #register(family: Family): void {
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
    if (this.#families.has(family.name)) throw new Error(`metric ${family.name} is already registered`);
    this.#families.set(family.name, family);
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    checkLabelNames(name, labelNames);
    const series = new Map<string, { values: string[]; total: number }>();
    this.#register({
      name,
      render: () => [
        ...header(name, help, 'counter'),
        ...[...series.values()].map(({ values, total }) => `${name}${formatLabels(labelNames.map((l, i) => [l, values[i] ?? '']))} ${formatNumber(total)}`),
      ],
    });
    return {
      inc: (labels, n = 1) => {
        // A counter that goes down reads as a restart to Prometheus' rate().
        if (!(n >= 0)) throw new RangeError(`${name}: a counter only goes up (got ${n})`);
        const values = valuesOf(name, labelNames, labels);
        const key = JSON.stringify(values);
        const entry = series.get(key) ?? { values, total: 0 };
        entry.total += n;
        series.set(key, entry);
      },
    };
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    checkLabelNames(name, labelNames, ['le']);
    const bounds = [...buckets].sort((a, b) => a - b);
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || b === bounds[i - 1])) {
      throw new Error(`${name}: buckets must be finite, distinct and at least one (+Inf is added)`);
    }
    // Counts are kept cumulative (each observation counts in every bucket it fits), as the format wants them.
    const series = new Map<string, { values: string[]; counts: number[]; sum: number; count: number }>();
    this.#register({
      name,
      render: () => [
        ...header(name, help, 'histogram'),
        ...[...series.values()].flatMap(({ values, counts, sum, count }) => {
          const pairs = labelNames.map((l, i): [string, string] => [l, values[i] ?? '']);
          return [
            ...bounds.map((le, i) => `${name}_bucket${formatLabels([...pairs, ['le', formatNumber(le)]])} ${counts[i] ?? 0}`),
            `${name}_bucket${formatLabels([...pairs, ['le', '+Inf']])} ${count}`,
            `${name}_sum${formatLabels(pairs)} ${formatNumber(sum)}`,
            `${name}_count${formatLabels(pairs)} ${count}`,
          ];
        }),
      ],
    });
    return {
      observe: (labels, seconds) => {
        if (!Number.isFinite(seconds)) throw new RangeError(`${name}: cannot observe ${seconds}`);
        const values = valuesOf(name, labelNames, labels);
        const key = JSON.stringify(values);
        const entry = series.get(key) ?? { values, counts: bounds.map(() => 0), sum: 0, count: 0 };
        bounds.forEach((le, i) => { if (seconds <= le) entry.counts[i] = (entry.counts[i] ?? 0) + 1; });
        entry.sum += seconds;
        entry.count += 1;
        series.set(key, entry);
      },
    };
  }

  /** With `collect`, the value is read at each render; undefined leaves the sample out. */
  gauge(name: string, help: string, collect?: () => number | undefined): Gauge {
    let value: number | undefined;
    this.#register({
      name,
      render: () => {
        const current = collect === undefined ? value : collect();
        return [...header(name, help, 'gauge'), ...(current === undefined ? [] : [`${name} ${formatNumber(current)}`])];
      },
    });
    return {
      set: (next) => { value = next; },
    };
  }

  render(): string {
    const lines = [...this.#families.values()].flatMap((family) => family.render());
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

export const COMMAND_DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const SCHEDULED_LATENESS_BUCKETS: readonly number[] = [0.01, 0.1, 1, 5, 30, 60, 300, 3600];

export interface ServiceMetrics {
  /**
   * `subject` is the endpoint name (`proxy.enable`, `query.key`), not the wire subject: the
   * prefix varies by deployment and an unbounded label would grow the registry forever.
   * `outcome` is "ok" or an API.md error code.
   */
  readonly commands: Counter<'subject' | 'outcome'>;
  readonly commandDuration: Histogram<'subject'>;
  /** Due rotations and expiries served by this process's scheduler: `outcome` done, nothing (already done or no longer due) or failed. */
  readonly scheduled: Counter<'kind' | 'outcome'>;
  /** How long after its due time a rotation or expiry was served, by the scheduler's clock. */
  readonly scheduledLateness: Histogram<'kind'>;
  /** Positions are opaque strings; only a numeric one (SQLite's) can be a gauge value. */
  storePositionApplied(position: string): void;
  render(): string;
}

export const createServiceMetrics = (): ServiceMetrics => {
  const registry = new Registry();
  let position: number | undefined;
  const commands = registry.counter('keyward_commands_total', 'Requests answered, by endpoint and outcome (ok or the API error code).', ['subject', 'outcome']);
  const commandDuration = registry.histogram('keyward_command_duration_seconds', 'Time from request received to reply sent, by endpoint.', ['subject'], COMMAND_DURATION_BUCKETS);
  const scheduled = registry.counter('keyward_scheduled_total', 'Due rotations and expiries served by the scheduler, by kind and outcome (done, nothing, failed).', ['kind', 'outcome']);
  const scheduledLateness = registry.histogram('keyward_scheduled_lateness_seconds', 'Time from a rotation or expiry falling due to the scheduler serving it.', ['kind'], SCHEDULED_LATENESS_BUCKETS);
  registry.gauge('keyward_store_position', 'The last event store position applied by the projections.', () => position);
  return {
    commands,
    commandDuration,
    scheduled,
    scheduledLateness,
    storePositionApplied: (next) => {
      // A string of digits only: "0012" or "1e3" are not positions any store writes.
      position = /^(0|[1-9][0-9]*)$/.test(next) ? Number(next) : undefined;
    },
    render: () => registry.render(),
  };
};
