/**
 * What the board says about itself, read from files under a root prefix (`/` on a device, a
 * fixture directory in tests): /proc/cpuinfo (Raspberry Pi Serial/Model/Revision, the
 * Hardware line of 32-bit kernels), the device tree (model, serial-number: u-boot fills it
 * from the SoC on Allwinner boards; strings end with NUL) and the network interfaces' MACs.
 * Missing files are simply absent facts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BoardFacts {
  readonly cpuinfo: Readonly<Record<string, string>>;
  readonly deviceTreeModel: string | undefined;
  readonly deviceTreeSerial: string | undefined;
  /** Interface name -> MAC address, lowercase, loopback excluded. */
  readonly macs: Readonly<Record<string, string>>;
}

export async function readBoardFacts(root: string): Promise<BoardFacts> {
  const text = async (path: string) => readFile(join(root, path), 'utf8').catch(() => undefined);
  const dt = async (path: string) => (await text(path))?.replace(/\0+$/, '').trim() || undefined;
  return {
    cpuinfo: parseCpuinfo((await text('proc/cpuinfo')) ?? ''),
    deviceTreeModel: await dt('sys/firmware/devicetree/base/model'),
    deviceTreeSerial: await dt('sys/firmware/devicetree/base/serial-number'),
    macs: await readMacs(root),
  };
}

/** The board-level `Key : value` lines of /proc/cpuinfo (the last occurrence wins). */
export function parseCpuinfo(text: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$/.exec(line);
    if (match) facts[match[1]!] = match[2]!.trim();
  }
  return facts;
}

async function readMacs(root: string): Promise<Record<string, string>> {
  const dir = join(root, 'sys/class/net');
  const names = await readdir(dir).catch(() => [] as string[]);
  const macs: Record<string, string> = {};
  for (const name of names.sort()) {
    if (name === 'lo') continue;
    const mac = (await readFile(join(dir, name, 'address'), 'utf8').catch(() => '')).trim().toLowerCase();
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== '00:00:00:00:00:00') macs[name] = mac;
  }
  return macs;
}
