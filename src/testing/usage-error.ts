// How the enoki/testing helpers say they were used wrongly: one coded error,
// ENOKI_ERR_TESTING_USAGE, whose message names the helper call and what the service does
// have, so that a typo is fixed from the message alone.

import { EnokiError } from '../errors.js';

/** `where` is the helper call as written (`workerFactory(orders)`); `what` says what is wrong. */
export function usageError(where: string, what: string): EnokiError {
  return new EnokiError('ENOKI_ERR_TESTING_USAGE', [where, what]);
}

/** Names given as dependencies that the service does not declare. */
export function notDependencies(where: string, names: readonly string[], known: Iterable<string>, hint = ''): EnokiError {
  const list = [...known].join(', ') || '(none)';
  return usageError(where, `${names.join(', ')} ${names.length === 1 ? 'is not a dependency' : 'are not dependencies'} of the service; its dependencies: ${list}${hint}`);
}
