import { schedulerBench } from './test/bench/tmp-sched.bench.ts';
await schedulerBench();
