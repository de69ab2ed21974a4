/**
 * What a person should do about each refusal from the enrollment server: one line, logged,
 * and whether retrying can help without anyone acting.
 */
export interface Advice {
  readonly message: string;
  /** True when only an operator can change the outcome (the agent then retries slowly). */
  readonly needsOperator: boolean;
}

export function refusalAdvice(code: string, deviceId: string): Advice {
  const operator = (message: string): Advice => ({ message, needsOperator: true });
  switch (code) {
    case 'token_invalid':
      return operator('the bootstrap token is not known to the server: copy a current fleetcert.json onto the boot partition');
    case 'token_expired':
      return operator('the bootstrap token has expired: make a new one ("fleetcert token create --out fleetcert.json") and copy it onto the boot partition');
    case 'token_revoked':
      return operator('the bootstrap token was revoked: copy a new fleetcert.json onto the boot partition');
    case 'token_exhausted':
      return operator('the bootstrap token has no enrollments left: make a new token with more --uses');
    case 'id_not_allowed':
      return operator(`the device id "${deviceId}" is outside the token's --id-pattern: use a matching id template or another token`);
    case 'id_invalid':
    case 'id_reserved':
      return operator(`the device id "${deviceId}" is not acceptable: set another id template`);
    case 'id_taken':
      return operator(`the id "${deviceId}" is enrolled with another key: if this board was re-flashed, run "fleetcert device reset ${deviceId}" on the server`);
    case 'device_revoked':
      return operator(`this device was revoked: an operator must run "fleetcert device reset ${deviceId}" before it can enroll again`);
    case 'cert_expired':
      return operator(
        `the certificate expired longer ago than the server's renewal grace window: copy a bootstrap file (fleetcert.json) onto the device so it can enroll again, or run "fleetcert device reset ${deviceId}" first if its token denies re-enrollment`,
      );
    case 'certificate_not_current':
      return operator(`the server no longer takes this certificate as the device's current one (was "${deviceId}" reset?): copy a bootstrap file (fleetcert.json) onto the device so it can enroll again`);
    case 'key_too_weak':
    case 'key_unsupported':
      return operator('the server does not accept this key type: use keyType ec-p256');
    case 'rate_limited':
      return { message: 'too many failed attempts from this address: waiting as the server asks', needsOperator: false };
    default:
      return { message: `the server refused with ${code}: retrying later`, needsOperator: false };
  }
}
