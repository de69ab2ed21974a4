/** A refusal from the enrollment server (enrollment or renewal), with its code: what the scheduler and the token fallback decide on. */
import { FleetcertError } from '../../shared/errors.js';
import type { RefusalCode } from '../../shared/protocol/error-codes.js';

/** The server refused; `refusal` is its code (docs/PROTOCOL.md). */
export class ServerRefused extends FleetcertError {
  constructor(
    readonly refusal: RefusalCode,
    message: string,
  ) {
    super('enrollment_refused', message);
  }

  /** Scripts see the server's code (`id_taken`, `token_expired`…); the exit code stays "refused" (6). */
  override get reportedCode(): string {
    return this.refusal;
  }
}
