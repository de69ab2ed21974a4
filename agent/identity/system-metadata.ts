/**
 * OS facts for the registry: the distribution from os-release, the architecture and the host
 * name from the kernel. Read with asynchronous file reads only, never a child process: this runs
 * on the start path, and systeminformation's OS probe (which this replaces) ran `hostname -f`
 * synchronously, so an unresolvable host name blocked the whole agent for the resolver's timeout
 * where no timeout of ours could end it (issue 14). Fail-soft and bounded: a slow or failing
 * read only means less metadata.
 */
import { readFile } from 'node:fs/promises';
import { arch, hostname } from 'node:os';

export interface SystemFacts {
  readonly os?: string;
  readonly arch?: string;
  readonly hostname?: string;
}

/** os-release(5): the first of these that exists. */
const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'];

export async function systemFacts(timeoutMs = 3_000): Promise<SystemFacts> {
  const probe = readOsName().then((os) => ({
    ...(os ? { os: os.slice(0, 128) } : {}),
    arch: arch().slice(0, 16),
    hostname: hostname().slice(0, 64),
  }));
  const timeout = new Promise<SystemFacts>((resolve) => setTimeout(() => resolve({}), timeoutMs).unref());
  return Promise.race([probe.catch(() => ({})), timeout]);
}

async function readOsName(): Promise<string | undefined> {
  for (const path of OS_RELEASE_FILES) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return osNameFromRelease(text);
  }
  return undefined;
}

/** `PRETTY_NAME` ("Debian GNU/Linux 12 (bookworm)"), else `NAME VERSION_ID`; shell-style quotes removed. */
export function osNameFromRelease(text: string): string | undefined {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) fields[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2').trim();
  }
  return fields['PRETTY_NAME'] || [fields['NAME'], fields['VERSION_ID']].filter(Boolean).join(' ') || undefined;
}
