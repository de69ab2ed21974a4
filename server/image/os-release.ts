/** /etc/os-release (pure): `KEY=value` lines, values optionally quoted (os-release(5)). */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
    fields[match[1]!] = value.replace(/\\(["'$`\\])/g, '$1');
  }
  return fields;
}

/** `Debian GNU/Linux 12 (bookworm)`, or the best the file offers. */
export function describeOs(fields: Record<string, string>): string {
  return fields.PRETTY_NAME ?? ([fields.NAME, fields.VERSION].filter(Boolean).join(' ') || 'unknown OS');
}
