// One KV watch and the moment its initial values have all been handed to us.
//
// nats.js 2.29 announces the end of the initial values through `initializedFn`, but calls it in
// one of two ways: queued in the watch's iterator behind the last initial entry (then every
// earlier entry has been through our loop), or directly inside `kv.watch()` when the consumer
// info shows nothing left to deliver, while entries it already received may still wait in the
// iterator's queue. So "loaded" here means: initializedFn has run, and our loop has handled as
// many entries as the iterator had received at that moment.
import type { KV, KvEntry, QueuedIterator } from 'nats';

export interface KeyWatch {
  stop(): void;
}

export interface WatchHandlers {
  readonly entry: (entry: KvEntry) => void;
  /** Once, when the initial values are all handled; later entries are live changes. */
  readonly loaded: () => void;
  /** The iterator ended with an error (the ordered consumer could not be recreated). */
  readonly failed: (error: unknown) => void;
}

export const watchKeys = async (kv: KV, filter: string, handlers: WatchHandlers): Promise<KeyWatch> => {
  // Not a `const` of watch()'s result: initializedFn may run before watch() returns.
  const ref: { iterator?: QueuedIterator<KvEntry> } = {};
  let initialized = false;
  let target: number | undefined;
  let handled = 0;
  let loaded = false;
  const state = { stopped: false };

  const checkLoaded = (): void => {
    if (loaded || !initialized || ref.iterator === undefined) return;
    target ??= ref.iterator.getReceived();
    if (handled >= target) {
      loaded = true;
      handlers.loaded();
    }
  };

  const it = await kv.watch({
    key: filter,
    initializedFn: () => {
      initialized = true;
      checkLoaded();
    },
  });
  ref.iterator = it;
  checkLoaded();

  void (async () => {
    try {
      for await (const entry of it) {
        handlers.entry(entry);
        handled++;
        checkLoaded();
      }
    } catch (error) {
      if (!state.stopped) handlers.failed(error);
      return;
    }
    if (!state.stopped) handlers.failed(new Error(`the watch of ${filter} ended`));
  })();

  return {
    stop: () => {
      state.stopped = true;
      it.stop();
    },
  };
};
