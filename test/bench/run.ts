// npm run bench [-- name...]: runs the named benchmarks, or all of them.
import { auditBench } from './audit.bench.js';
import { esdbBench } from './esdb.bench.js';
import { mysqlProxyBench } from './mysql-proxy.bench.js';
import { propagationBench } from './propagation.bench.js';
import { schedulerBench } from './scheduler.bench.js';
import { serviceBench } from './service.bench.js';
import { storeBench } from './store.bench.js';

const benches: Record<string, () => Promise<void>> = { store: storeBench, service: serviceBench, propagation: propagationBench, scheduler: schedulerBench, esdb: esdbBench, audit: auditBench, 'mysql-proxy': mysqlProxyBench };
const wanted = process.argv.slice(2);
for (const [name, bench] of Object.entries(benches)) {
  if (wanted.length === 0 || wanted.includes(name)) await bench();
}
