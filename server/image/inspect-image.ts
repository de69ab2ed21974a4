/**
 * What a board image is, read without changing it: not compressed, its partitions and their
 * filesystems, the layout (Raspberry Pi OS or Armbian), a root filesystem debugfs may write
 * (no journal left to replay), the OS, the userland's architecture, and where the board mounts
 * the partition that gets the bootstrap file.
 */
import { open, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { BOOTSTRAP_FILE_LOCATIONS } from '../../shared/protocol/bootstrap-file.js';
import { elfArch, type ImageArch } from './detect-arch.js';
import { detectLayout, type ImageLayout, type ProbedPartition } from './detect-layout.js';
import { Ext4Partition } from './ext4-partition.js';
import { probePartition } from './filesystem-probe.js';
import { fatMountPoint, parseFstab } from './fstab.js';
import { describeOs, parseOsRelease } from './os-release.js';
import { readPartitionTable } from './partition-table.js';

export interface ImageFacts {
  readonly layout: ImageLayout;
  readonly os: string;
  readonly arch: ImageArch;
  /** Where the board finds the bootstrap file: /boot/firmware/fleetcert.json or /boot/fleetcert.json. */
  readonly bootstrapPath: string;
  /** The input's root partition, for reading. */
  readonly root: Ext4Partition;
}

export async function inspectImage(image: string): Promise<ImageFacts> {
  await checkInput(image);
  const table = await readPartitionTable(image);
  const probed: ProbedPartition[] = [];
  for (const p of table.partitions) probed.push({ ...p, filesystem: await probePartition(image, p.offsetBytes) });
  const layout = detectLayout(table, probed);
  if (layout.root.filesystem.type === 'ext4' && layout.root.filesystem.needsRecovery) {
    throw new FleetcertError('image_invalid', `${image}: the root filesystem was not cleanly unmounted (its journal needs recovery)`, {
      hint: `copied from a running card? replay the journal first: e2fsck -fy "${image}?offset=${layout.root.offsetBytes}"`,
    });
  }
  const root = new Ext4Partition(image, layout.root.offsetBytes);
  const os = describeOs(parseOsRelease((await root.readFile('/etc/os-release'))?.toString('utf8') ?? ''));
  const arch = await detectArch(root);
  const bootstrapPath = posix.join(await bootstrapDir(root, layout), 'fleetcert.json');
  return { layout, os, arch, bootstrapPath, root };
}

const DECOMPRESS = { xz: 'xz -dk', gzip: 'gunzip -k', zip: 'unzip' } as const;

async function checkInput(image: string): Promise<void> {
  const st = await stat(image).catch(() => undefined);
  if (!st?.isFile()) throw new FleetcertError('image_invalid', `${image}: no such image file`);
  const head = Buffer.alloc(6);
  const handle = await open(image, 'r');
  try {
    await handle.read(head, 0, 6, 0);
  } finally {
    await handle.close();
  }
  const compressed = head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
    ? 'xz'
    : head[0] === 0x1f && head[1] === 0x8b
      ? 'gzip'
      : head.subarray(0, 2).toString('latin1') === 'PK'
        ? 'zip'
        : undefined;
  if (compressed) {
    throw new FleetcertError('image_invalid', `${image} is ${compressed}-compressed`, {
      hint: `decompress it first (${DECOMPRESS[compressed]} ${image}) and bake the .img`,
    });
  }
}

/** The userland's architecture, from the ELF header of a few small programs in /usr/bin. */
async function detectArch(root: Ext4Partition): Promise<ImageArch> {
  const programs = (await root.list('/usr/bin'))
    .filter((e) => (e.mode & 0o170000) === 0o100000 && e.size >= 64)
    .sort((a, b) => a.size - b.size)
    .slice(0, 5);
  for (const p of programs) {
    const bytes = await root.readFile(`/usr/bin/${p.name}`);
    const arch = bytes && elfArch(bytes);
    if (arch) return arch;
  }
  throw new FleetcertError('image_layout_unknown', "no ELF program in the root partition's /usr/bin: is it a root filesystem?");
}

/** Where the board mounts the partition that gets the bootstrap file. */
async function bootstrapDir(root: Ext4Partition, layout: ImageLayout): Promise<string> {
  if (!layout.boot) {
    if ((await root.stat(await root.resolve('/boot')))?.type !== 'directory')
      throw new FleetcertError('image_layout_unknown', 'a single ext4 partition without a /boot directory');
    return '/boot';
  }
  const fstab = parseFstab((await root.readFile('/etc/fstab'))?.toString('utf8') ?? '');
  const mount = fatMountPoint(fstab) ?? (layout.kind === 'raspberry-pi-os' ? '/boot/firmware' : '/boot');
  if (!BOOTSTRAP_FILE_LOCATIONS.includes(posix.join(mount, 'fleetcert.json'))) {
    throw new FleetcertError('image_layout_unknown', `the image mounts its FAT partition at ${mount}, where the agent does not look`, {
      hint: `the agent reads ${BOOTSTRAP_FILE_LOCATIONS.join(', ')}`,
    });
  }
  return mount;
}
