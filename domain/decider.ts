import type * as E from 'fp-ts/lib/Either.js';
import type { DomainError } from './errors.js';

/**
 * An aggregate as three pure functions: the handler folds a stream's events with `evolve`
 * from `initialState`, asks `decide`, and appends what it returns.
 */
export interface Decider<Command, Event, State, Context> {
  readonly decide: (command: Command, state: State, context: Context) => E.Either<DomainError, Event[]>;
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: State;
}

export const foldEvents = <Event, State>(decider: Pick<Decider<unknown, Event, State, unknown>, 'evolve' | 'initialState'>, events: Iterable<Event>): State => {
  let state = decider.initialState;
  for (const event of events) state = decider.evolve(state, event);
  return state;
};
