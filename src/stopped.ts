// How a long-running process waits to be told to stop.

/**
 * Resolves with the first SIGTERM or SIGINT. Signal handlers keep no process alive, and a
 * process with nothing else pending (a scheduler with nothing scheduled) would end at once:
 * it is held open until the signal comes.
 */
export const untilStopped = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    const alive = setInterval(() => undefined, 1 << 30);
    const stop = (signal: NodeJS.Signals): void => {
      clearInterval(alive);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
