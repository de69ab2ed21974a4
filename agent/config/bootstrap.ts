/**
 * The bootstrap file from the image's boot partition: the first that exists of the configured
 * paths. It is often edited on a Windows PC, so a UTF-8 BOM and CRLF line ends are fine;
 * anything else wrong is reported with the file and the field. After the first enrollment the
 * file holds no token any more (`tokenMovedTo`, see bootstrap-token.ts): such a file is read, but
 * is not a source of the token.
 */
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import {
  bootstrapFileSchema,
  movedBootstrapFileSchema,
  type BootstrapFile,
  type MovedBootstrapFile,
} from '../../shared/protocol/bootstrap-file.js';
import { formatIssues } from '../../shared/format-issues.js';
import { stripBom } from './agent-config.js';

export const MAX_BOOTSTRAP_BYTES = 64 * 1024;

export interface FoundBootstrap {
  readonly path: string;
  readonly bootstrap: BootstrapFile;
}

export interface BootstrapOnDisk {
  readonly path: string;
  readonly file: BootstrapFile | MovedBootstrapFile;
}

/** The first bootstrap file that still holds a token, or undefined when none does. */
export async function findBootstrap(paths: readonly string[]): Promise<FoundBootstrap | undefined> {
  for (const { path, file } of await readBootstrapFiles(paths)) if ('token' in file) return { path, bootstrap: file };
  return undefined;
}

/** Every bootstrap file of the list that exists, parsed, in the list's order. */
export async function readBootstrapFiles(paths: readonly string[]): Promise<BootstrapOnDisk[]> {
  const found: BootstrapOnDisk[] = [];
  for (const path of paths) {
    const text = await readBootstrapText(path);
    if (text !== undefined) found.push({ path, file: parseBootstrapFile(path, text) });
  }
  return found;
}

/** The file's text, or undefined when it does not exist. */
export async function readBootstrapText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FleetcertError('bootstrap_invalid', `${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** A bootstrap file with its token. */
export function parseBootstrap(path: string, text: string): BootstrapFile {
  const file = parseBootstrapFile(path, text);
  if (!('token' in file)) {
    throw new FleetcertError('bootstrap_invalid', `${path}: holds no token (moved to ${file.tokenMovedTo})`, {
      hint: 'make a new one with "fleetcert token create --out fleetcert.json"',
    });
  }
  return file;
}

/** A bootstrap file as written by `token create`, or as left by the agent once the token moved. */
export function parseBootstrapFile(path: string, text: string): BootstrapFile | MovedBootstrapFile {
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
  const moved = typeof json === 'object' && json !== null && 'tokenMovedTo' in json;
  const parsed = (moved ? movedBootstrapFileSchema : bootstrapFileSchema).safeParse(json);
  if (!parsed.success) {
    throw new FleetcertError('bootstrap_invalid', `${path}: ${formatIssues(parsed.error)}`, {
      hint: 'make a new one with "fleetcert token create --out fleetcert.json"',
    });
  }
  // Normalise CRLF in the embedded PEM (Windows editors) so it parses like the original.
  const caCertificate = parsed.data.caCertificate?.replace(/\r\n/g, '\n');
  return { ...parsed.data, ...(caCertificate === undefined ? {} : { caCertificate }) };
}
