/**
 * The partition table of a disk image, as `sfdisk -J` reports it (no loop device, no root):
 * each partition's byte offset and size, which is all the filesystem tools need
 * (`mcopy -i img@@offset`, `debugfs "img?offset=N"`).
 */
import { FleetcertError } from '../../shared/errors.js';
import { runImageTool } from './run-image-tool.js';

export interface Partition {
  /** 1-based, as the kernel names it (p1, p2...). */
  readonly number: number;
  readonly offsetBytes: number;
  readonly sizeBytes: number;
  /** The MBR type byte (`c`, `83`) or the GPT type GUID, as sfdisk prints it. */
  readonly type: string;
}

export interface PartitionTable {
  readonly label: string;
  readonly sectorSize: number;
  readonly partitions: readonly Partition[];
}

/** Parses `sfdisk -J` output; anything else is `image_invalid`. */
export function parsePartitionTable(json: unknown): PartitionTable {
  const table = (json as { partitiontable?: unknown } | null)?.partitiontable as Record<string, unknown> | undefined;
  const bad = (why: string) => new FleetcertError('image_invalid', `unexpected sfdisk output: ${why}`);
  if (!table || typeof table !== 'object') throw bad('no partitiontable');
  const sectorSize = table.sectorsize ?? 512;
  if (typeof table.label !== 'string' || typeof sectorSize !== 'number' || !Number.isInteger(sectorSize) || sectorSize < 512)
    throw bad('no label or sector size');
  const raw = table.partitions ?? [];
  if (!Array.isArray(raw) || raw.length > 128) throw bad('partitions is not a list');
  const partitions = raw.map((p: Record<string, unknown>, index) => {
    const { start, size, type, node } = p;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || typeof type !== 'string') throw bad(`partition ${index + 1}`);
    const number = typeof node === 'string' ? Number(/(\d+)$/.exec(node)?.[1] ?? index + 1) : index + 1;
    return { number, offsetBytes: (start as number) * sectorSize, sizeBytes: (size as number) * sectorSize, type };
  });
  return { label: table.label, sectorSize, partitions };
}

export async function readPartitionTable(image: string): Promise<PartitionTable> {
  const out = await runImageTool('sfdisk', ['-J', image], { allowFailure: true });
  if (out.code !== 0 || out.stdout.trim() === '') {
    throw new FleetcertError('image_invalid', `${image}: no partition table (${out.stderr.trim() || `sfdisk exit ${out.code}`})`, {
      hint: 'pass the raw .img (decompress .img.xz with "xz -dk" first)',
    });
  }
  return parsePartitionTable(JSON.parse(out.stdout));
}
