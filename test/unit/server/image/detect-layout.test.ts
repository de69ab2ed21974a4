import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectLayout, type ProbedPartition } from '#server/image/detect-layout.js';
import { probeFilesystem, type Filesystem } from '#server/image/filesystem-probe.js';
import { parsePartitionTable, type PartitionTable } from '#server/image/partition-table.js';
import { expectCode } from '../../../helpers/expect-error.js';

/** `sfdisk -J` of Raspberry Pi OS Lite (Bookworm, 2025-05-13). */
const PI_OS = {
  partitiontable: {
    label: 'dos',
    id: '0x5e3da3da',
    device: 'raspios.img',
    unit: 'sectors',
    sectorsize: 512,
    partitions: [
      { node: 'raspios.img1', start: 8192, size: 1048576, type: 'c' },
      { node: 'raspios.img2', start: 1056768, size: 4308992, type: '83' },
    ],
  },
};

test('parsePartitionTable: byte offsets and sizes from sfdisk -J, partition numbers from the node names', async () => {
  const table = parsePartitionTable(PI_OS);
  assert.is(table.label, 'dos');
  assert.equal(table.partitions, [
    { number: 1, offsetBytes: 8192 * 512, sizeBytes: 1048576 * 512, type: 'c' },
    { number: 2, offsetBytes: 1056768 * 512, sizeBytes: 4308992 * 512, type: '83' },
  ]);
  for (const bad of [
    null,
    {},
    { partitiontable: { label: 'dos', partitions: [{ start: 'x', size: 1, type: 'c' }] } },
    { partitiontable: { sectorsize: 12 } },
  ]) {
    await expectCode(() => parsePartitionTable(bad), 'image_invalid');
  }
});

function ext4Superblock(label: string, freeBlocks: number, logBlockSize = 2): Uint8Array {
  const b = Buffer.alloc(2048);
  b.writeUInt16LE(0xef53, 1024 + 56);
  b.writeUInt32LE(logBlockSize, 1024 + 24);
  b.writeUInt32LE(freeBlocks, 1024 + 12);
  b.writeUInt32LE(5000, 1024 + 16);
  b.write(label, 1024 + 120, 'utf8');
  return b;
}

function fat32BootSector(label: string): Uint8Array {
  const b = Buffer.alloc(2048);
  b.writeUInt16LE(512, 11);
  b[13] = 8;
  b.writeUInt16LE(0, 22);
  b.write(label.padEnd(11, ' '), 71, 'latin1');
  b.write('FAT32   ', 82, 'latin1');
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

test('probeFilesystem: ext4 label, block size and free bytes; FAT32 label; anything else unknown', () => {
  assert.equal(probeFilesystem(ext4Superblock('rootfs', 1000)), {
    type: 'ext4',
    label: 'rootfs',
    blockSize: 4096,
    freeBytes: 4096000,
    freeInodes: 5000,
    needsRecovery: false,
  });
  assert.equal(probeFilesystem(fat32BootSector('bootfs')), { type: 'vfat', label: 'bootfs', fatBits: 32 });
  assert.equal(probeFilesystem(fat32BootSector('NO NAME')), { type: 'vfat', label: '', fatBits: 32 });
  const dirty = Buffer.from(ext4Superblock('rootfs', 10));
  dirty.writeUInt32LE(0x4 | 0x2, 1024 + 96);
  assert.is((probeFilesystem(dirty) as { needsRecovery: boolean }).needsRecovery, true, 'a journal to replay is seen');
  assert.equal(probeFilesystem(Buffer.alloc(2048)), { type: 'unknown' });
  assert.equal(probeFilesystem(Buffer.alloc(100)), { type: 'unknown' }, 'a short read is not a filesystem');
});

function probed(table: PartitionTable, ...filesystems: Filesystem[]): ProbedPartition[] {
  return table.partitions.map((p, i) => ({ ...p, filesystem: filesystems[i]! }));
}

const EXT4 = (label: string): Filesystem => ({
  type: 'ext4',
  label,
  blockSize: 4096,
  freeBytes: 1 << 30,
  freeInodes: 1000,
  needsRecovery: false,
});
const FAT = (label: string): Filesystem => ({ type: 'vfat', label, fatBits: 32 });

test('detectLayout: Pi OS (bootfs, or boot before Bookworm), Armbian (one ext4, or armbi_boot + ext4)', () => {
  const pi = parsePartitionTable(PI_OS);
  assert.is(detectLayout(pi, probed(pi, FAT('bootfs'), EXT4('rootfs'))).kind, 'raspberry-pi-os');
  assert.is(detectLayout(pi, probed(pi, FAT('boot'), EXT4('rootfs'))).kind, 'raspberry-pi-os');
  const ci = detectLayout(pi, probed(pi, FAT('armbi_boot'), EXT4('armbi_root')));
  assert.equal([ci.kind, ci.boot?.number, ci.root.number], ['armbian', 1, 2]);
  const one = parsePartitionTable({
    partitiontable: { label: 'dos', sectorsize: 512, partitions: [{ node: 'a.img1', start: 8192, size: 4000000, type: '83' }] },
  });
  const armbian = detectLayout(one, probed(one, EXT4('armbi_root')));
  assert.equal([armbian.kind, armbian.boot, armbian.root.number], ['armbian', undefined, 1]);
});

test('detectLayout refuses what it does not know, naming what it found', async () => {
  const pi = parsePartitionTable(PI_OS);
  const cases: [Filesystem[], RegExp][] = [
    [[EXT4('a'), EXT4('b')], /2 ext4 partitions.*p1 ext4 "a" 512 MiB, p2 ext4 "b" 2\.1 GiB/],
    [[FAT('bootfs'), FAT('other')], /no ext4 root partition/],
    [[FAT('WINDOWS'), EXT4('rootfs')], /labelled "windows"/],
    [[{ type: 'unknown' }, { type: 'unknown' }], /no ext4.*p1 type c, no ext4 or FAT/],
  ];
  for (const [filesystems, message] of cases) {
    const err = await expectCode(() => detectLayout(pi, probed(pi, ...filesystems)), 'image_layout_unknown');
    assert.match(err.message, message);
    assert.match(err.hint ?? '', /Raspberry Pi OS/);
  }
});

test.run();
