/**
 * What filesystem a partition holds, read from its first 2 KiB: the ext2/3/4 superblock (at
 * 1024, magic 0xEF53) or a FAT boot sector (0x55AA, BPB). Pure parsing of bytes, so layout
 * detection needs neither blkid nor a mount.
 */
import { open } from 'node:fs/promises';

export type Filesystem =
  | {
      readonly type: 'ext4';
      readonly label: string;
      readonly blockSize: number;
      readonly freeBytes: number;
      readonly freeInodes: number;
      /** The journal holds writes not yet applied (not cleanly unmounted): debugfs would not see them. */
      readonly needsRecovery: boolean;
    }
  | { readonly type: 'vfat'; readonly label: string; readonly fatBits: 12 | 16 | 32 }
  | { readonly type: 'unknown' };

export const PROBE_BYTES = 2048;

export function probeFilesystem(head: Uint8Array): Filesystem {
  if (head.length < PROBE_BYTES) return { type: 'unknown' };
  const view = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const sb = 1024;
  if (view.readUInt16LE(sb + 56) === 0xef53) {
    const logBlock = view.readUInt32LE(sb + 24);
    if (logBlock <= 6) {
      const blockSize = 1024 << logBlock;
      const incompat = view.readUInt32LE(sb + 96);
      const is64bit = (incompat & 0x80) !== 0;
      const freeBlocks = view.readUInt32LE(sb + 12) + (is64bit ? view.readUInt32LE(sb + 0x158) * 2 ** 32 : 0);
      return {
        type: 'ext4',
        label: cString(view.subarray(sb + 120, sb + 136)),
        blockSize,
        freeBytes: freeBlocks * blockSize,
        freeInodes: view.readUInt32LE(sb + 16),
        needsRecovery: (incompat & 0x4) !== 0,
      };
    }
  }
  if (view[510] === 0x55 && view[511] === 0xaa) {
    const bytesPerSector = view.readUInt16LE(11);
    const sectorsPerFat16 = view.readUInt16LE(22);
    if ([512, 1024, 2048, 4096].includes(bytesPerSector) && view[13]! > 0) {
      const fat32 = sectorsPerFat16 === 0;
      const type = view.subarray(fat32 ? 82 : 54, fat32 ? 90 : 62).toString('latin1');
      if (fat32 || /^FAT1[26]/.test(type)) {
        const label = view
          .subarray(fat32 ? 71 : 43, fat32 ? 82 : 54)
          .toString('latin1')
          .trim();
        return { type: 'vfat', label: label === 'NO NAME' ? '' : label, fatBits: fat32 ? 32 : type.startsWith('FAT12') ? 12 : 16 };
      }
    }
  }
  return { type: 'unknown' };
}

export async function probePartition(image: string, offsetBytes: number): Promise<Filesystem> {
  const handle = await open(image, 'r');
  try {
    const head = Buffer.alloc(PROBE_BYTES);
    const { bytesRead } = await handle.read(head, 0, PROBE_BYTES, offsetBytes);
    return probeFilesystem(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end === -1 ? bytes.length : end)).toString('utf8');
}
