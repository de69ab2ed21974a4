import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findToken, locateToken } from '#agent/config/bootstrap-token.js';
import { findBootstrap, readBootstrapFiles } from '#agent/config/bootstrap.js';
import { stateLayout } from '#agent/config/state-layout.js';
import { bootWriteFailure, moveLeftoverToken, moveTokenOffBoot } from '#agent/runtime/move-token-off-boot.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const TOKEN = `fct_abcdefghij_${'A'.repeat(43)}`;
const written = {
  version: 1,
  token: TOKEN,
  caFingerprint: 'a'.repeat(64),
  caCertificate: '-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n',
  enrollUrl: 'https://fleet.example:8443',
};

/** A plain directory standing for the FAT boot partition (/boot/firmware), and a 0700 state dir. */
async function board(dir: string, text = JSON.stringify(written)) {
  const bootDir = join(dir, 'boot-firmware');
  await mkdir(bootDir);
  const boot = join(bootDir, 'fleetcert.json');
  await writeFile(boot, text);
  await mkdir(join(dir, 'state'), { mode: 0o700 });
  return { boot, layout: stateLayout(join(dir, 'state')) };
}

test('after enrollment the token moves into the state dir (0600) and the boot file keeps every other field', async () => {
  await withTempDir(async (dir) => {
    const { boot, layout } = await board(dir, '\uFEFF' + JSON.stringify(written, null, 2).replace(/\n/g, '\r\n'));
    const { log, events } = memoryLog();
    const found = await findToken(layout, [boot]);
    assert.is(found?.location, 'boot_partition');
    assert.is(await moveTokenOffBoot(found!, layout, log), 'moved');

    const left = await readFile(boot, 'utf8');
    assert.not.match(left, /fct_/);
    const { token: _token, ...rest } = written;
    assert.equal(JSON.parse(left), { ...rest, tokenMovedTo: layout.bootstrapCopy }, 'pin, PEM (as written) and URL kept');
    assert.is((await stat(layout.bootstrapCopy)).mode & 0o777, 0o600);
    assert.is(JSON.parse(await readFile(layout.bootstrapCopy, 'utf8')).token, TOKEN);
    assert.is(events('bootstrap_token_moved').length, 1);
    assert.not.match(JSON.stringify(events('bootstrap_token_moved')), /fct_/, 'the token is never logged');

    // The moved file still reads (for the pin and URL), but is no source of the token; the state copy is.
    const [onDisk] = await readBootstrapFiles([boot]);
    assert.is(onDisk?.file.enrollUrl, written.enrollUrl);
    assert.is(await findBootstrap([boot]), undefined);
    const again = await findToken(layout, [boot]);
    assert.equal([again?.location, again?.bootstrap.token], ['state_dir', TOKEN]);
    assert.equal(await locateToken(layout, [boot]), { location: 'state_dir', paths: [layout.bootstrapCopy] });
    assert.is(await moveTokenOffBoot(again!, layout, log), 'kept_in_state');
  });
});

test('a boot file that changed since it was read (or no longer parses) is never rewritten', async () => {
  await withTempDir(async (dir) => {
    const { boot, layout } = await board(dir);
    const { log, events } = memoryLog();
    const found = (await findToken(layout, [boot]))!;
    await writeFile(boot, '{"version": 1, "token": "fct_'); // half-saved by an editor
    assert.is(await moveTokenOffBoot(found, layout, log), 'boot_changed');
    assert.is(await readFile(boot, 'utf8'), '{"version": 1, "token": "fct_');
    const other = JSON.stringify({ ...written, token: `fct_klmnopqrst_${'B'.repeat(43)}` });
    await writeFile(boot, other); // an operator put a new token there meanwhile
    assert.is(await moveTokenOffBoot(found, layout, log), 'boot_changed');
    assert.is(await readFile(boot, 'utf8'), other);
    assert.is(events('bootstrap_token_not_moved').length, 2);
  });
});

test('status: where the token lives; none when neither the boot file nor the state copy has it', async () => {
  await withTempDir(async (dir) => {
    const { boot, layout } = await board(dir);
    assert.equal(await locateToken(layout, [boot]), { location: 'boot_partition', paths: [boot] });
    await writeFile(layout.bootstrapCopy, JSON.stringify(written), { mode: 0o600 });
    assert.equal(
      await locateToken(layout, [boot]),
      { location: 'boot_partition', paths: [boot, layout.bootstrapCopy] },
      'the exposure wins',
    );
    assert.equal(await locateToken(stateLayout(join(dir, 'empty')), [join(dir, 'absent.json')]), { location: 'none', paths: [] });
  });
});

test("move-token as root (the unit's privileged step): a token left on the boot partition moves, and the copy belongs to the agent", async () => {
  await withTempDir(async (dir) => {
    const { boot, layout } = await board(dir);
    const { log } = memoryLog();
    // An agent that ran unprivileged kept a copy but could not rewrite the root-owned boot file.
    await writeFile(layout.bootstrapCopy, JSON.stringify(written), { mode: 0o600 });
    const agentUid = process.getuid?.() === 0 ? 65534 : (process.getuid?.() ?? 0);
    if (process.getuid?.() === 0) await chown(layout.root, agentUid, agentUid);
    assert.is((await locateToken(layout, [boot])).location, 'boot_partition', 'the exposure is reported');

    assert.is(await moveLeftoverToken([boot], layout, log), 'moved');
    assert.not.match(await readFile(boot, 'utf8'), /fct_/);
    assert.is((await stat(layout.bootstrapCopy)).uid, agentUid, 'the service can still read its copy');
    assert.is(await moveLeftoverToken([boot], layout, log), 'none', 'idempotent');
  });
});

test('a boot file the agent may not write is not called read-only: each cause says its own remedy', () => {
  assert.equal([bootWriteFailure('EROFS').reason, bootWriteFailure('EROFS').result], ['read_only', 'boot_read_only']);
  for (const errno of ['EACCES', 'EPERM']) {
    const why = bootWriteFailure(errno);
    assert.equal([why.reason, why.result], ['not_permitted', 'boot_not_writable']);
    assert.not.match(why.message, /read-only/);
  }
  assert.is(bootWriteFailure('EIO').reason, 'write_failed');
});

test.run();
