/**
 * Reads and writes the FAT boot partition of an image file with mtools (`-i img@@offset`): no
 * mount, no loop device. FAT has no owners or modes; the board mounts it root-owned.
 */
import { FleetcertError } from '../../shared/errors.js';
import { runImageTool } from './run-image-tool.js';

/** mtools refuses a FAT whose geometry does not match a floppy's unless told not to check. */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' };

export class FatPartition {
  readonly #drive: string;

  constructor(image: string, offsetBytes: number) {
    this.#drive = `${image}@@${offsetBytes}`;
  }

  /** Copies a local file to the partition's root, replacing what is there. */
  async writeFile(name: string, localFile: string): Promise<void> {
    await runImageTool('mcopy', ['-o', '-i', this.#drive, localFile, `::/${name}`], { env: MTOOLS_ENV });
  }

  /** Free bytes, from `mdir`'s last line ("N bytes free"). */
  async freeBytes(): Promise<number> {
    const res = await runImageTool('mdir', ['-i', this.#drive, '::/'], { allowFailure: true, env: MTOOLS_ENV });
    const free = /([\d ]+) bytes free/.exec(res.stdout)?.[1];
    if (free === undefined)
      throw new FleetcertError('image_tool_failed', `mdir ::/ (exit ${res.code}): ${res.stderr.trim() || res.stdout}`);
    return Number(free.replace(/ /g, ''));
  }
}
