/**
 * This device's identity: board facts under the identity root, a generated id part kept in
 * the state directory when the hardware gives none (made once, on first boot), the template.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ensureDirectory, writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { DeviceMetadata } from '../../shared/protocol/device-metadata.js';
import { VERSION } from '../../shared/version.js';
import type { StateLayout } from '../config/state-layout.js';
import { readBoardFacts } from './board-facts.js';
import { deriveIdentity, needsGeneratedId, type DeviceIdentity } from './device-identity.js';
import type { SystemFacts } from './system-metadata.js';

export async function resolveIdentity(identityRoot: string, template: string, layout: StateLayout): Promise<DeviceIdentity> {
  const facts = await readBoardFacts(identityRoot);
  let generated: string | undefined;
  if (needsGeneratedId(facts)) {
    generated = (await readFile(layout.generatedId, 'utf8').catch(() => '')).trim() || undefined;
    if (!generated) {
      generated = randomBytes(4).toString('hex');
      await ensureDirectory(layout.root, 0o700);
      await writeFileAtomic(layout.generatedId, generated + '\n');
    }
  }
  return deriveIdentity({ facts, template, hostname: hostname().split('.')[0]!, generated });
}

/**
 * This board's identity as far as the hardware tells it, without writing anything: what read-only
 * commands compare the hardware record with. Where the board has no serial or MAC the id part that
 * would be generated is a placeholder (the comparison does not use it: such a board cannot be told).
 */
export async function boardIdentity(identityRoot: string, template: string): Promise<DeviceIdentity> {
  const facts = await readBoardFacts(identityRoot);
  return deriveIdentity({
    facts,
    template,
    hostname: hostname().split('.')[0]!,
    generated: needsGeneratedId(facts) ? '00000000' : undefined,
  });
}

/** What travels with the enrollment for the registry (informational only). */
export function deviceMetadata(identity: DeviceIdentity, system: SystemFacts): DeviceMetadata {
  const printable = (s: string | undefined, max: number) => s?.replace(/[^\x20-\x7e]/g, '').slice(0, max) || undefined;
  const entries = {
    model: printable(identity.model, 128),
    serial: printable(identity.serial, 64),
    mac: identity.mac,
    os: printable(system.os, 128),
    arch: printable(system.arch, 16),
    hostname: printable(system.hostname, 64),
    agentVersion: VERSION,
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined)) as DeviceMetadata;
}
