/**
 * A key and its certificates sealed as PKCS#12 by `openssl pkcs12 -export` (what browsers and
 * most MQTT clients import). The key goes to openssl on stdin and never touches the disk
 * unencrypted; the passphrase travels only in the child's environment. openssl 3 defaults:
 * AES-256-CBC, PBKDF2.
 */
import { spawn } from 'node:child_process';
import { FleetcertError } from '../../shared/errors.js';

/** `openssl pkcs12 -export`, key and certificates on stdin, passphrase in the child's environment only. */
export function exportPkcs12(pem: string, friendlyName: string, passphrase: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['pkcs12', '-export', '-name', friendlyName, '-passout', 'env:FLEETCERT_P12_PASSPHRASE'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FLEETCERT_P12_PASSPHRASE: passphrase },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) =>
      reject(new FleetcertError('config_invalid', `cannot run openssl: ${e.message}`, { cause: e, hint: 'install openssl on this host' })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new FleetcertError('internal', `openssl pkcs12 -export failed (${code}): ${err.trim().slice(0, 300)}`));
    });
    child.stdin.end(pem);
  });
}
