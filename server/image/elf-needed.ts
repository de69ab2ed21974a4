/**
 * The shared libraries an ELF program needs (its DT_NEEDED entries), read from the section
 * headers, the dynamic section and its string table only: a 150 MB Node binary is never read
 * whole. The bake checks them against the image, so an embedded Node that could not start on the
 * board (the official arm64 builds need libatomic.so.1, which a minimal image may lack) is
 * refused on the PC instead.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';

const SHT_DYNAMIC = 6;
const DT_NULL = 0;
const DT_NEEDED = 1;
/** Bounds on what is read. Node exports V8's symbols: its .dynstr is megabytes. */
const MAX_SECTIONS = 4096;
const MAX_SECTION_BYTES = 64 << 20;

export async function neededLibraries(path: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const head = await readAt(file, 0, 64);
    if (head.readUInt32BE(0) !== 0x7f454c46) return [];
    const is64 = head[4] === 2;
    const little = head[5] === 1;
    const u16 = (b: Buffer, at: number) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const u32 = (b: Buffer, at: number) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const word = (b: Buffer, at: number) => (is64 ? Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at));
    const shoff = word(head, is64 ? 0x28 : 0x20);
    const shentsize = u16(head, is64 ? 0x3a : 0x2e);
    const shnum = u16(head, is64 ? 0x3c : 0x30);
    if (shoff === 0 || shnum === 0 || shnum > MAX_SECTIONS) return [];
    const table = await readAt(file, shoff, shentsize * shnum);
    const section = (i: number) => {
      const at = i * shentsize;
      return {
        type: u32(table, at + 4),
        offset: word(table, at + (is64 ? 0x18 : 0x10)),
        size: word(table, at + (is64 ? 0x20 : 0x14)),
        link: u32(table, at + (is64 ? 0x28 : 0x18)),
      };
    };
    for (let i = 0; i < shnum; i += 1) {
      const dynamic = section(i);
      if (dynamic.type !== SHT_DYNAMIC || dynamic.link >= shnum) continue;
      const strings = section(dynamic.link);
      if (dynamic.size > MAX_SECTION_BYTES || strings.size > MAX_SECTION_BYTES)
        throw new FleetcertError('node_runtime_invalid', `${path}: a dynamic section of more than ${MAX_SECTION_BYTES} bytes`);
      return parseNeeded(await readAt(file, dynamic.offset, dynamic.size), await readAt(file, strings.offset, strings.size), is64, little);
    }
    return [];
  } finally {
    await file.close();
  }
}

/** DT_NEEDED names from a dynamic section and its string table (pure). */
export function parseNeeded(dynamic: Buffer, strings: Buffer, is64: boolean, little: boolean): string[] {
  const entry = is64 ? 16 : 8;
  const names: string[] = [];
  for (let at = 0; at + entry <= dynamic.length; at += entry) {
    const tag = is64
      ? Number(little ? dynamic.readBigInt64LE(at) : dynamic.readBigInt64BE(at))
      : little
        ? dynamic.readInt32LE(at)
        : dynamic.readInt32BE(at);
    if (tag === DT_NULL) break;
    if (tag !== DT_NEEDED) continue;
    const offset = is64
      ? Number(little ? dynamic.readBigUInt64LE(at + 8) : dynamic.readBigUInt64BE(at + 8))
      : little
        ? dynamic.readUInt32LE(at + 4)
        : dynamic.readUInt32BE(at + 4);
    const end = strings.indexOf(0, offset);
    if (offset < strings.length && end !== -1) names.push(strings.subarray(offset, end).toString('latin1'));
  }
  return names;
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}
