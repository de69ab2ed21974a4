/** An agent state directory with one installed generation, made without a server (CLI black-box tests). */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { stateLayout } from '#agent/config/state-layout.js';
import { certificatesToPem, certificateToPem, type Certificate } from '#shared/pki/certificate.js';
import { exportPrivateKeyPem, type KeyPair } from '#shared/pki/key-pair.js';
import type { TestPki } from './test-pki.js';

/** Writes a complete generation 000001 (key 0600, cert, chain, ca) and points `live` at it. */
export async function installGeneration(dir: string, pki: TestPki, device: { certificate: Certificate; keys: KeyPair }): Promise<void> {
  const layout = stateLayout(dir);
  const gen = layout.generation('000001');
  await mkdir(gen.dir, { recursive: true, mode: 0o700 });
  await writeFile(gen.key, await exportPrivateKeyPem(device.keys), { mode: 0o600 });
  await writeFile(gen.cert, certificateToPem(device.certificate));
  await writeFile(gen.chain, certificatesToPem([device.certificate, pki.intermediate.certificate]));
  await writeFile(gen.ca, certificateToPem(pki.root.certificate));
  await symlink('generations/000001', layout.live.dir);
}
