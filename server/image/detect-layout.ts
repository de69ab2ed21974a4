/**
 * Which kind of board image this is, from its partitions and what each holds (pure):
 *   raspberry-pi-os  FAT `bootfs` (or `boot`, before Bookworm) + ext4 `rootfs`; boot at /boot/firmware
 *   armbian          one ext4 partition with /boot inside it, or (`-ci` images) FAT `armbi_boot` + ext4
 * Anything else is refused, naming what was found: writing into a partition we do not understand
 * could make a card that no longer boots.
 */
import { FleetcertError } from '../../shared/errors.js';
import type { Filesystem } from './filesystem-probe.js';
import type { Partition, PartitionTable } from './partition-table.js';

export type LayoutKind = 'raspberry-pi-os' | 'armbian';

export interface ProbedPartition extends Partition {
  readonly filesystem: Filesystem;
}

export interface ImageLayout {
  readonly kind: LayoutKind;
  readonly root: ProbedPartition;
  /** The FAT boot partition, when there is one. */
  readonly boot: ProbedPartition | undefined;
}

const PI_BOOT_LABELS = new Set(['bootfs', 'boot']);
const ARMBIAN_BOOT_LABELS = new Set(['armbi_boot']);

export function detectLayout(table: PartitionTable, partitions: readonly ProbedPartition[]): ImageLayout {
  const ext = partitions.filter((p) => p.filesystem.type === 'ext4');
  const fat = partitions.filter((p) => p.filesystem.type === 'vfat');
  const refuse = (why: string) =>
    new FleetcertError('image_layout_unknown', `${why}; found ${describePartitions(table, partitions)}`, {
      hint: 'fleetcert image bake knows Raspberry Pi OS (FAT bootfs + ext4 rootfs) and Armbian (one ext4, or FAT armbi_boot + ext4)',
    });
  if (ext.length !== 1) throw refuse(ext.length === 0 ? 'no ext4 root partition' : `${ext.length} ext4 partitions (which is the root?)`);
  if (fat.length > 1) throw refuse(`${fat.length} FAT partitions`);
  const root = ext[0]!;
  const boot = fat[0];
  if (!boot) return { kind: 'armbian', root, boot: undefined };
  if (boot.number > root.number) throw refuse('the FAT partition comes after the root partition');
  const label = boot.filesystem.type === 'vfat' ? boot.filesystem.label.toLowerCase() : '';
  if (PI_BOOT_LABELS.has(label)) return { kind: 'raspberry-pi-os', root, boot };
  if (ARMBIAN_BOOT_LABELS.has(label)) return { kind: 'armbian', root, boot };
  throw refuse(`a FAT partition labelled "${label}" (expected bootfs, boot or armbi_boot)`);
}

/** `dos table: p1 vfat "bootfs" 512 MiB, p2 ext4 "rootfs" 2.0 GiB` */
export function describePartitions(table: PartitionTable, partitions: readonly ProbedPartition[]): string {
  if (partitions.length === 0) return `a ${table.label} table with no partitions`;
  const parts = partitions.map((p) => {
    const fs = p.filesystem;
    const what = fs.type === 'unknown' ? `type ${p.type}, no ext4 or FAT` : `${fs.type}${fs.label ? ` "${fs.label}"` : ''}`;
    return `p${p.number} ${what} ${formatSize(p.sizeBytes)}`;
  });
  return `${table.label} table: ${parts.join(', ')}`;
}

export function formatSize(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${Math.round(bytes / 2 ** 20)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
