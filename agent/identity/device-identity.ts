/**
 * The device id, from board facts, as a pure function: a template (default
 * `{model}-{serial}`) filled with a short model slug and the board serial, sanitised to the
 * server's id syntax. Serial sources, in order: cpuinfo `Serial` (Raspberry Pi), the device
 * tree `serial-number` (Allwinner and others), the primary MAC, and last a random id the
 * caller persists on first boot. All-zero serials mean "absent".
 */
import { DEVICE_ID_PATTERN } from '../../shared/protocol/device-id.js';
import type { BoardFacts } from './board-facts.js';

export const DEFAULT_ID_TEMPLATE = '{model}-{serial}';

export interface DeviceIdentity {
  readonly deviceId: string;
  /** Human model name, e.g. "Raspberry Pi 4 Model B Rev 1.4". */
  readonly model: string;
  readonly serial: string | undefined;
  readonly mac: string | undefined;
  /** Where the serial part came from. */
  readonly serialSource: 'cpuinfo' | 'devicetree' | 'mac' | 'generated';
}

export interface IdentityInput {
  readonly facts: BoardFacts;
  readonly template: string;
  readonly hostname: string;
  /** A previously generated id part (persisted), used only when the hardware gives none. */
  readonly generated: string | undefined;
}

export function deriveIdentity(input: IdentityInput): DeviceIdentity {
  const { facts } = input;
  const model = facts.cpuinfo['Model'] ?? facts.deviceTreeModel ?? facts.cpuinfo['Hardware'] ?? facts.cpuinfo['model name'] ?? 'linux';
  const mac = primaryMac(facts.macs);
  const cpuSerial = usableSerial(facts.cpuinfo['Serial']);
  const dtSerial = usableSerial(facts.deviceTreeSerial);
  const [serialPart, serialSource] = cpuSerial
    ? [cpuSerial, 'cpuinfo' as const]
    : dtSerial
      ? [dtSerial, 'devicetree' as const]
      : mac
        ? [mac.replace(/:/g, ''), 'mac' as const]
        : [input.generated ?? '', 'generated' as const];
  const filled = input.template
    .replace(/\{model\}/g, modelSlug(model))
    .replace(/\{serial\}/g, shortSerial(serialPart))
    .replace(/\{mac\}/g, (mac ?? '').replace(/:/g, ''))
    .replace(/\{hostname\}/g, input.hostname);
  return { deviceId: sanitizeDeviceId(filled), model, serial: cpuSerial ?? dtSerial, mac, serialSource };
}

/** True when the hardware gives nothing to build an id from, so one must be generated and kept. */
export function needsGeneratedId(facts: BoardFacts): boolean {
  return !usableSerial(facts.cpuinfo['Serial']) && !usableSerial(facts.deviceTreeSerial) && !primaryMac(facts.macs);
}

/** "Raspberry Pi 4 Model B Rev 1.4" -> "rpi4", "Xunlong Orange Pi PC" -> "opi-pc", else a slug. */
export function modelSlug(model: string): string {
  const rpi = /Raspberry Pi (Compute Module (\d+)|Zero 2 W|Zero W|Zero|(\d+)|Model)/i.exec(model);
  if (rpi) {
    if (rpi[2]) return `rpi-cm${rpi[2]}`;
    if (rpi[3]) return `rpi${rpi[3]}`;
    return rpi[1]!.toLowerCase().startsWith('zero') ? `rpi-${rpi[1]!.toLowerCase().replace(/\s+/g, '')}` : 'rpi';
  }
  const opi = /Orange ?Pi ([\w+ ]+)/i.exec(model);
  if (opi) return `opi-${slug(opi[1]!)}`;
  return slug(model.split(/\s+/).slice(0, 3).join(' ')) || 'linux';
}

/** Anything into `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`. */
export function sanitizeDeviceId(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-.]+$/, '');
  return DEVICE_ID_PATTERN.test(cleaned) ? cleaned : 'device';
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function usableSerial(value: string | undefined): string | undefined {
  const s = value?.trim().toLowerCase();
  return s && /^[0-9a-z]+$/.test(s) && !/^0+$/.test(s) ? s : undefined;
}

/** Leading zeros dropped: 00000000c3f1e2d4 -> c3f1e2d4 (still unique, easier to read). */
function shortSerial(serial: string): string {
  return serial.replace(/^0+(?=.)/, '');
}

function primaryMac(macs: Readonly<Record<string, string>>): string | undefined {
  return macs['eth0'] ?? macs['end0'] ?? macs['wlan0'] ?? Object.values(macs)[0];
}
