import * as assert from 'uvu/assert';
import { FleetcertError, type ErrorCode } from '#shared/errors.js';

/** Asserts that `fn` rejects (or throws) with a FleetcertError of exactly this code. */
export async function expectCode(fn: () => unknown, code: ErrorCode): Promise<FleetcertError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a FleetcertError with code ${code}, but nothing was thrown`);
  assert.instance(
    caught,
    FleetcertError,
    `expected FleetcertError(${code}), got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : JSON.stringify(caught)}`,
  );
  const err = caught as FleetcertError;
  assert.is(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
  return err;
}
