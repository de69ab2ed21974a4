/** Which board credentials belong to (pure rule), and setting another board's state aside, crash-safely. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateLayout } from '#agent/config/state-layout.js';
import { bindingMismatch, keepCredentialsToThisBoard, readBinding, type HardwareFacts } from '#agent/credentials/hardware-binding.js';
import type { DeviceIdentity } from '#agent/identity/device-identity.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const pi = (serial: string | undefined, mac: string | undefined): HardwareFacts => ({
  model: 'Raspberry Pi 4 Model B Rev 1.4',
  ...(serial ? { serial } : {}),
  ...(mac ? { mac } : {}),
  serialSource: serial ? 'cpuinfo' : mac ? 'mac' : 'generated',
});

test('the serial decides; without one the MAC; with neither nothing can tell; the model never decides alone', () => {
  assert.is(bindingMismatch(pi('1000a', 'aa'), pi('1000a', 'bb')), undefined, 'a new NIC on the same board');
  assert.match(bindingMismatch(pi('1000a', 'aa'), pi('1000b', 'aa')) ?? '', /serial 1000a, this board's is 1000b/);
  assert.match(bindingMismatch(pi('1000a', undefined), pi(undefined, 'aa')) ?? '', /absent/);
  assert.is(bindingMismatch(pi(undefined, 'aa'), { ...pi(undefined, 'aa'), model: 'AMD EPYC 7B13' }), undefined, 'a migrated VM');
  assert.match(bindingMismatch(pi(undefined, 'aa'), pi(undefined, 'bb')) ?? '', /MAC aa/);
  assert.is(bindingMismatch(pi(undefined, undefined), pi(undefined, undefined)), undefined);
});

const identity = (serial: string): DeviceIdentity => ({
  deviceId: `rpi4-${serial}`,
  model: 'Raspberry Pi 4 Model B Rev 1.4',
  serial,
  mac: undefined,
  serialSource: 'cpuinfo',
});

test('an unbound state with credentials is recorded as this board; a foreign one is moved aside, fleet files stay', async () => {
  await withTempDir(async (root) => {
    const layout = stateLayout(root);
    const { log, events } = memoryLog();
    await mkdir(join(root, 'generations', '1'), { recursive: true });
    await symlink('generations/1', join(root, 'live'));
    await writeFile(join(root, 'bootstrap.json'), '{}');
    await writeFile(join(root, 'broker.json'), '{}');
    assert.is(await keepCredentialsToThisBoard(layout, identity('aaaa'), log, new Date()), 'recorded');
    assert.is((await readBinding(layout.hardwareBinding))?.serial, 'aaaa');
    assert.is(await keepCredentialsToThisBoard(layout, identity('aaaa'), log, new Date()), 'own');

    const now = new Date('2026-11-29T12:00:00.000Z');
    assert.is(await keepCredentialsToThisBoard(layout, identity('bbbb'), log, now), 'set_aside');
    assert.equal((await readdir(root)).sort(), ['bootstrap.json', 'foreign-2026-11-29T12-00-00-000Z']);
    const foreign = join(root, 'foreign-2026-11-29T12-00-00-000Z');
    assert.equal((await readdir(foreign)).sort(), ['bootstrap.json', 'broker.json', 'generations', 'hardware.json', 'live']);
    assert.is(events('foreign_credentials_set_aside').length, 1);
    assert.is(await keepCredentialsToThisBoard(layout, identity('bbbb'), log, now), 'unbound', 'nothing left to check');
  });
});

test('a set-aside cut short by a crash is completed at the next start, before any credential is looked at', async () => {
  await withTempDir(async (root) => {
    const layout = stateLayout(root);
    const { log } = memoryLog();
    await mkdir(join(root, 'generations', '1'), { recursive: true });
    await symlink('generations/1', join(root, 'live'));
    await writeFile(layout.hardwareBinding, JSON.stringify({ model: 'm', serial: 'aaaa', serialSource: 'cpuinfo' }));
    // The crash: the partial directory exists, the live link was moved, the rest not yet.
    const partial = layout.foreignDir('t', true);
    await mkdir(partial);
    await rename(join(root, 'live'), join(partial, 'live'));
    assert.is(await keepCredentialsToThisBoard(layout, identity('bbbb'), log, new Date()), 'unbound');
    assert.equal(await readdir(root), ['foreign-t']);
    assert.equal((await readdir(join(root, 'foreign-t'))).sort(), ['generations', 'hardware.json', 'live']);
    assert.match(await readFile(join(root, 'foreign-t', 'hardware.json'), 'utf8'), /aaaa/);
  });
});

test.run();
