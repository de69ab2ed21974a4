import { FleetcertError } from '../errors.js';

/** A sleep that ends early, rejecting with `interrupted`, when the signal aborts (SIGTERM during start-up). */
export function abortableSleep(signal: AbortSignal): (seconds: number) => Promise<void> {
  return (seconds) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(interrupted());
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, seconds * 1000);
      const onAbort = () => {
        clearTimeout(timer);
        reject(interrupted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
}

function interrupted(): FleetcertError {
  return new FleetcertError('interrupted', 'stopped by a signal while waiting');
}
