/** /etc/fstab (pure): where the image mounts its FAT boot partition. */
export interface FstabEntry {
  readonly spec: string;
  readonly mountPoint: string;
  readonly type: string;
}

export function parseFstab(text: string): FstabEntry[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([spec, mountPoint, type]) => ({ spec: spec!, mountPoint: unescapeOctal(mountPoint!), type: type! }));
}

/** The mount point of the first vfat entry, if the fstab has one. */
export function fatMountPoint(entries: readonly FstabEntry[]): string | undefined {
  return entries.find((e) => e.type === 'vfat')?.mountPoint;
}

function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
