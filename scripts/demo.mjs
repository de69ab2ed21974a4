#!/usr/bin/env node
// The README's main command. Sets itself up (npm ci, Debian packages when root, build), then
// runs fleetcert as a user would, in a temporary directory, and shows each step. Today it
// creates the CA and the server's TLS certificates and checks them with openssl; it grows
// into the full enroll-a-device demo as the enrollment server and the agent land.
// Usage: npm run demo [-- --keep]   (--keep leaves the temporary directory for a look)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl'] });

const keep = process.argv.includes('--keep');
const dir = mkdtempSync(join(tmpdir(), 'fleetcert-demo-'));
const data = join(dir, 'server');
const cli = join(ROOT, 'dist', 'server', 'main.js');

function step(title) {
  process.stdout.write(`\n== ${title}\n`);
}

function sh(cmd, args, { show = true } = {}) {
  if (show) process.stdout.write(`$ ${[cmd === process.execPath ? 'fleetcert' : cmd, ...args.slice(cmd === process.execPath ? 1 : 0)].join(' ')}\n`);
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.status !== 0) {
    process.stderr.write(res.stdout + res.stderr);
    process.stderr.write(`demo: step failed (exit ${res.status}); files kept in ${dir}\n`);
    process.exit(1);
  }
  return res.stdout + res.stderr;
}

try {
  step('1. Create the fleet CA (root + issuing CA) and the server TLS certificates');
  process.stdout.write(sh(process.execPath, [cli, 'init', '--data-dir', data, '--passphrase-file', join(dir, 'ca-passphrase')]));

  step('2. What was written, and who may read it');
  for (const sub of ['ca', 'tls']) {
    for (const name of readdirSync(join(data, sub)).sort()) {
      const mode = (statSync(join(data, sub, name)).mode & 0o777).toString(8).padStart(4, '0');
      process.stdout.write(`  ${mode}  ${sub}/${name}\n`);
    }
  }

  step('3. An independent check: openssl verifies the broker certificate against the root');
  const broker = join(data, 'tls', 'broker.pem');
  process.stdout.write(sh('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(data, 'ca', 'root.pem'), '-untrusted', broker, broker]));
  process.stdout.write(sh('openssl', ['x509', '-in', broker, '-noout', '-subject', '-ext', 'subjectAltName,extendedKeyUsage']));

  step('Done');
  process.stdout.write(
    keep
      ? `Files kept in ${dir}\n`
      : 'The temporary directory is removed. Run "npm run demo -- --keep" to look around afterwards.\n',
  );
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
