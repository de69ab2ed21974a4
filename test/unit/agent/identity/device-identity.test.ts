/**
 * Device identity from the identity files of real boards (test/fixtures/boards),
 * read through the root prefix, never from this machine's /proc.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readBoardFacts } from '#agent/identity/board-facts.js';
import { deriveIdentity, DEFAULT_ID_TEMPLATE, modelSlug, needsGeneratedId, sanitizeDeviceId } from '#agent/identity/device-identity.js';
import { deviceIdProblem } from '#shared/protocol/device-id.js';
import { BOARDS_DIR as BOARDS } from '../../../helpers/boards.js';

const identity = async (board: string, template = DEFAULT_ID_TEMPLATE, generated?: string) =>
  deriveIdentity({ facts: await readBoardFacts(join(BOARDS, board)), template, hostname: 'host-1', generated });

test('Raspberry Pi 4 (arm64, no Hardware line): cpuinfo serial and model', async () => {
  const id = await identity('rpi4-bookworm-arm64');
  assert.equal(id, {
    deviceId: 'rpi4-100000002a5c3b71',
    model: 'Raspberry Pi 4 Model B Rev 1.4',
    serial: '100000002a5c3b71',
    mac: 'dc:a6:32:0a:1b:2c',
    serialSource: 'cpuinfo',
  });
});

test('Raspberry Pi 3 B+ (armhf, Hardware line, no net fixture): leading zeros dropped', async () => {
  const id = await identity('rpi3-bookworm-armhf');
  assert.is(id.deviceId, 'rpi3-c3f1e2d4');
  assert.is(id.model, 'Raspberry Pi 3 Model B Plus Rev 1.3');
  assert.is(id.mac, undefined);
});

test('OrangePi PC (Armbian): cpuinfo serial is all zeros, so the device-tree serial-number (NUL-terminated)', async () => {
  const id = await identity('orangepi-pc-armbian');
  assert.is(id.deviceId, 'opi-pc-2c00081a1b2c3d4');
  assert.is(id.model, 'Xunlong Orange Pi PC');
  assert.is(id.serialSource, 'devicetree');
  assert.is(id.serial, '02c00081a1b2c3d4');
});

test('a VM without a board serial falls back to the primary MAC', async () => {
  const id = await identity('generic-x86');
  assert.is(id.deviceId, 'amd-epyc-processor-525400123456');
  assert.is(id.serialSource, 'mac');
});

test('no serial and no MAC: the generated id the caller persisted', async () => {
  const facts = { cpuinfo: {}, deviceTreeModel: undefined, deviceTreeSerial: undefined, macs: {} };
  assert.ok(needsGeneratedId(facts));
  assert.not.ok(needsGeneratedId(await readBoardFacts(join(BOARDS, 'generic-x86'))));
  assert.is(deriveIdentity({ facts, template: DEFAULT_ID_TEMPLATE, hostname: 'h', generated: '7f3a9c01' }).deviceId, 'linux-7f3a9c01');
});

test('templates and sanitising: every result is a valid device id', async () => {
  assert.is((await identity('rpi4-bookworm-arm64', 'plant3/{hostname}+{serial}')).deviceId, 'plant3-host-1-100000002a5c3b71');
  assert.is(sanitizeDeviceId('--Ärger im Büro!!'), 'rger-im-B-ro');
  assert.is(sanitizeDeviceId('x'.repeat(80)).length, 64);
  assert.is(sanitizeDeviceId('###'), 'device');
  for (const board of ['rpi4-bookworm-arm64', 'rpi3-bookworm-armhf', 'orangepi-pc-armbian', 'generic-x86']) {
    assert.is(deviceIdProblem((await identity(board)).deviceId), undefined, board);
  }
});

test('model slugs', () => {
  assert.is(modelSlug('Raspberry Pi Zero 2 W Rev 1.0'), 'rpi-zero2w');
  assert.is(modelSlug('Raspberry Pi Compute Module 4 Rev 1.0'), 'rpi-cm4');
  assert.is(modelSlug('Raspberry Pi 5 Model B Rev 1.0'), 'rpi5');
  assert.is(modelSlug('Xunlong Orange Pi Zero2'), 'opi-zero2');
});

test.run();
