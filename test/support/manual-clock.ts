// A clock the test moves by hand: the scheduler and the commands it runs read it, and a
// scheduler asleep until a due time wakes when the test moves the clock past it. No test
// waits for a real interval.
import type { SchedulerClock } from '../../src/scheduler/scheduler.js';

interface Sleeper {
  readonly at: number;
  readonly wake: () => void;
}

export class ManualClock implements SchedulerClock {
  #ms: number;
  readonly #sleepers = new Set<Sleeper>();

  constructor(start: string) {
    this.#ms = Date.parse(start);
  }

  readonly now = (): string => new Date(this.#ms).toISOString();

  readonly sleepUntil = (at: string, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (Date.parse(at) <= this.#ms || signal.aborted) {
        resolve();
        return;
      }
      const sleeper: Sleeper = {
        at: Date.parse(at),
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.add(sleeper);
      signal.addEventListener('abort', sleeper.wake);
    });

  /** Moves the clock forward (or back, with a negative number) and wakes whoever slept until now. */
  advance(seconds: number): void {
    this.set(new Date(this.#ms + seconds * 1000).toISOString());
  }

  /** Sets the clock to any time, earlier ones included: a wall clock can jump both ways. */
  set(at: string): void {
    this.#ms = Date.parse(at);
    for (const s of [...this.#sleepers]) if (s.at <= this.#ms) s.wake();
  }
}
