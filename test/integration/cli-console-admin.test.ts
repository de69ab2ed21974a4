/**
 * `fleetcert admin issue|passwd` as a black box: a PKCS#12 openssl reads back with the admin subject
 * and clientAuth; files 0600 and never overwritten (nothing recorded then); short passwords refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fleetcert } from '../helpers/cli.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { withTempDir } from '../helpers/temp-dir.js';

const adminCertificates = (dataDir: string) => {
  const db = new Database(join(dataDir, 'registry.sqlite3'), { readonly: true });
  try {
    return db.prepare('SELECT admin_name, serial FROM admin_certificates').all() as { admin_name: string; serial: string }[];
  } finally {
    db.close();
  }
};

test('admin issue: a 0600 PKCS#12 with the admin subject and clientAuth; an existing file is never overwritten', async () => {
  await withTempDir(async (dir) => {
    const { dataDir, passphraseFile } = await initDataDir(dir);
    const p12 = join(dir, 'alice.p12');
    const args = [
      'admin',
      'issue',
      'alice',
      '--role',
      'operator',
      '--p12-out',
      p12,
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passphraseFile,
    ];
    const res = await fleetcert([...args, '--json']);
    assert.is(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { serial: string; passphraseFile: string; role: string };
    assert.is(out.role, 'operator');
    for (const file of [p12, out.passphraseFile]) assert.is(statSync(file).mode & 0o777, 0o600, file);
    const pem = execFileSync('openssl', ['pkcs12', '-in', p12, '-passin', `file:${out.passphraseFile}`, '-nokeys', '-clcerts']);
    const text = execFileSync('openssl', ['x509', '-noout', '-subject', '-serial', '-ext', 'extendedKeyUsage,basicConstraints'], {
      input: pem,
    }).toString();
    assert.match(text, /subject=CN ?= ?admin:alice, O ?= ?fleetcert administrators/);
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
    assert.is(
      text
        .match(/serial=([0-9A-F]+)/)![1]!
        .toLowerCase()
        .replace(/^(00)+/, ''),
      out.serial,
    );
    assert.equal(adminCertificates(dataDir), [{ admin_name: 'alice', serial: out.serial }]);

    const again = await fleetcert(args);
    assert.is(again.code, 4, again.stderr);
    assert.match(again.stderr, /already exists/);
    assert.is(adminCertificates(dataDir).length, 1, 'nothing recorded for a certificate nobody holds');
  });
});

test('admin passwd: 12 characters at least; bad names refused; a new admin is a viewer', async () => {
  await withTempDir(async (dir) => {
    const { dataDir } = await initDataDir(dir);
    const file = join(dir, 'pw');
    writeFileSync(file, 'too short\n');
    const short = await fleetcert(['admin', 'passwd', 'bob', '--password-file', file, '--data-dir', dataDir]);
    assert.is(short.code, 2);
    assert.match(short.stderr, /12 to 1024 characters/);
    const badName = await fleetcert(['admin', 'passwd', 'Bob:1', '--password-file', file, '--data-dir', dataDir]);
    assert.is(badName.code, 2);
    const viaStdin = await fleetcert(['admin', 'passwd', 'bob', '--data-dir', dataDir, '--json'], { input: 'a long enough password\n' });
    assert.is(viaStdin.code, 0, viaStdin.stderr);
    assert.equal(JSON.parse(viaStdin.stdout), { ok: true, name: 'bob', role: 'viewer' });
  });
});

test.run();
