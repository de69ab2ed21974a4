/**
 * The bootstrap file from the image's boot partition: the first that exists of the configured
 * paths. It is often edited on a Windows PC, so a UTF-8 BOM and CRLF line ends are fine;
 * anything else wrong is reported with the file and the field.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import { bootstrapFileSchema, type BootstrapFile } from '../../shared/protocol/bootstrap-file.js';
import { formatIssues } from '../../shared/format-issues.js';
import { stripBom } from './agent-config.js';

export const MAX_BOOTSTRAP_BYTES = 64 * 1024;

export interface FoundBootstrap {
  readonly path: string;
  readonly bootstrap: BootstrapFile;
}

/** The first bootstrap file found, or undefined when none of the paths exists. */
export async function findBootstrap(paths: readonly string[]): Promise<FoundBootstrap | undefined> {
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new FleetcertError('bootstrap_invalid', `${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
    }
    return { path, bootstrap: parseBootstrap(path, text) };
  }
  return undefined;
}

export function parseBootstrap(path: string, text: string): BootstrapFile {
  if (Buffer.byteLength(text) > MAX_BOOTSTRAP_BYTES)
    throw new FleetcertError('bootstrap_invalid', `${path}: larger than ${MAX_BOOTSTRAP_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(stripBom(text));
  } catch (err) {
    throw new FleetcertError('bootstrap_invalid', `${path}: not valid JSON (${(err as Error).message})`, {
      hint: 'make a new one with "fleetcert token create --out fleetcert.json"',
    });
  }
  const parsed = bootstrapFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new FleetcertError('bootstrap_invalid', `${path}: ${formatIssues(parsed.error)}`, {
      hint: 'make a new one with "fleetcert token create --out fleetcert.json"',
    });
  }
  // Normalise CRLF in the embedded PEM (Windows editors) so it parses like the original.
  const caCertificate = parsed.data.caCertificate?.replace(/\r\n/g, '\n');
  return { ...parsed.data, ...(caCertificate === undefined ? {} : { caCertificate }) };
}
