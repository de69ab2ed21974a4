/** Text for people: aligned tables and short dates. JSON output never goes through here. */

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `label      text`: the two-column layout of summaries. */
export function row(label: string, text: string): string {
  return `  ${label.padEnd(17)}${text}`;
}

export function day(date: Date | null | undefined): string {
  return date ? date.toISOString().slice(0, 10) : '-';
}

export function minute(date: Date | null | undefined): string {
  return date ? date.toISOString().slice(0, 16).replace('T', ' ') + 'Z' : '-';
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
