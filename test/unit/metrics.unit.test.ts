// The rendered text is checked whole: Prometheus rejects a scrape over one malformed line.
import { describe, expect, it } from 'vitest';
import { createServiceMetrics, Registry } from '../../src/service/metrics.js';

describe('a registry', () => {
  it('renders counters, histograms and gauges in exposition format 0.0.4', () => {
    const registry = new Registry();
    const requests = registry.counter('demo_requests_total', 'Requests handled.', ['route', 'code']);
    const latency = registry.histogram('demo_latency_seconds', 'Latency.', ['route'], [0.5, 0.1, 1]);
    const temperature = registry.gauge('demo_temperature', 'Temperature.');
    registry.gauge('demo_collected', 'Read at render.', () => 7);

    requests.inc({ route: '/a', code: '200' });
    requests.inc({ code: '200', route: '/a' }, 2);
    requests.inc({ route: '/b', code: '500' });
    latency.observe({ route: '/a' }, 0.05);
    latency.observe({ route: '/a' }, 0.3);
    latency.observe({ route: '/a' }, 5);
    temperature.set(21.5);

    expect(registry.render()).toBe(
      [
        '# HELP demo_requests_total Requests handled.',
        '# TYPE demo_requests_total counter',
        'demo_requests_total{route="/a",code="200"} 3',
        'demo_requests_total{route="/b",code="500"} 1',
        '# HELP demo_latency_seconds Latency.',
        '# TYPE demo_latency_seconds histogram',
        'demo_latency_seconds_bucket{route="/a",le="0.1"} 1',
        'demo_latency_seconds_bucket{route="/a",le="0.5"} 2',
        'demo_latency_seconds_bucket{route="/a",le="1"} 2',
        'demo_latency_seconds_bucket{route="/a",le="+Inf"} 3',
        'demo_latency_seconds_sum{route="/a"} 5.35',
        'demo_latency_seconds_count{route="/a"} 3',
        '# HELP demo_temperature Temperature.',
        '# TYPE demo_temperature gauge',
        'demo_temperature 21.5',
        '# HELP demo_collected Read at render.',
        '# TYPE demo_collected gauge',
        'demo_collected 7',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslash, double quote and newline in label values, and backslash and newline in help', () => {
    const registry = new Registry();
    registry.counter('demo_total', 'Line one\nback\\slash "quoted"', ['v']).inc({ v: 'a\\b"c"\nd' });
    expect(registry.render()).toBe(
      ['# HELP demo_total Line one\\nback\\\\slash "quoted"', '# TYPE demo_total counter', 'demo_total{v="a\\\\b\\"c\\"\\nd"} 1', ''].join('\n'),
    );
  });

  it('renders a family with no samples yet as its HELP and TYPE lines only', () => {
    const registry = new Registry();
    registry.counter('demo_total', 'Nothing yet.', []);
    registry.gauge('demo_unknown', 'Not known.', () => undefined);
    expect(registry.render()).toBe('# HELP demo_total Nothing yet.\n# TYPE demo_total counter\n# HELP demo_unknown Not known.\n# TYPE demo_unknown gauge\n');
  });

  it('refuses what would make an invalid scrape or a wrong rate', () => {
    const registry = new Registry();
    expect(() => registry.counter('bad-name', 'x', [])).toThrow(/invalid metric name/);
    expect(() => registry.histogram('demo_h', 'x', ['le'], [1])).toThrow(/invalid label name le/);
    expect(() => registry.histogram('demo_h2', 'x', [], [1, 1])).toThrow(/buckets/);
    const counter = registry.counter('demo_total', 'x', ['a']);
    expect(() => registry.counter('demo_total', 'x', [])).toThrow(/already registered/);
    expect(() => { counter.inc({ a: 'x' }, -1); }).toThrow(/only goes up/);
    expect(() => { counter.inc({} as { a: string }); }).toThrow(/label a must be a string/);
    expect(() => { registry.histogram('demo_h3', 'x', [], [1]).observe({}, Number.NaN); }).toThrow(/cannot observe/);
  });
});

describe("keyward's metrics", () => {
  it('count commands by subject and outcome, time them, and show the store position', () => {
    const metrics = createServiceMetrics();
    metrics.commands.inc({ subject: 'authorize', outcome: 'ok' });
    metrics.commands.inc({ subject: 'authorize', outcome: 'FORBIDDEN' });
    metrics.commandDuration.observe({ subject: 'authorize' }, 0.004);
    metrics.storePositionApplied('1234');

    const text = metrics.render();
    expect(text).toContain('# TYPE keyward_commands_total counter\nkeyward_commands_total{subject="authorize",outcome="ok"} 1\nkeyward_commands_total{subject="authorize",outcome="FORBIDDEN"} 1\n');
    expect(text).toContain('# TYPE keyward_command_duration_seconds histogram\n');
    const buckets = [...text.matchAll(/^keyward_command_duration_seconds_bucket\{subject="authorize",le="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], m[2]]);
    expect(buckets).toEqual([
      ['0.001', '0'], ['0.0025', '0'], ['0.005', '1'], ['0.01', '1'], ['0.025', '1'], ['0.05', '1'],
      ['0.1', '1'], ['0.25', '1'], ['0.5', '1'], ['1', '1'], ['2.5', '1'], ['+Inf', '1'],
    ]);
    expect(text).toContain('keyward_command_duration_seconds_sum{subject="authorize"} 0.004\nkeyward_command_duration_seconds_count{subject="authorize"} 1\n');
    expect(text).toMatch(/# TYPE keyward_store_position gauge\nkeyward_store_position 1234\n$/);
  });

  it('leave the store position out while it is not a number', () => {
    const metrics = createServiceMetrics();
    expect(metrics.render()).toMatch(/# TYPE keyward_store_position gauge\n$/);
    metrics.storePositionApplied('7');
    metrics.storePositionApplied('$all:42/7');
    expect(metrics.render()).toMatch(/# TYPE keyward_store_position gauge\n$/);
  });
});
