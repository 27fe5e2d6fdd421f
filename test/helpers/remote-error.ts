import { expect } from 'vitest';
import { RemoteError } from 'enoki';

/** The RemoteError a call rejects with (fails the test if it resolves or rejects otherwise). */
export async function remoteError(call: Promise<unknown>): Promise<RemoteError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteError);
  return err as RemoteError;
}
