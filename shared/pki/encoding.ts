/**
 * Bytes in and out of the formats we meet: PEM (one or many blocks), DER, and the base64
 * bodies EST uses. Sizes are bounded here, before any ASN.1 parser sees the data.
 */
import { createHash } from 'node:crypto';
import { FleetcertError, type ErrorCode } from '../errors.js';

/** DER of the first PEM block, or the bytes themselves if they are not PEM. */
export function toDer(input: string | Uint8Array, code: ErrorCode, maxBytes: number): Uint8Array {
  const blocks = toDerBlocks(input, code, maxBytes);
  if (blocks.length !== 1) {
    throw new FleetcertError(code, `expected exactly one PEM block, found ${blocks.length}`);
  }
  return blocks[0]!;
}

/** DER of every PEM block in a bundle (or of the single DER input). */
export function toDerBlocks(input: string | Uint8Array, code: ErrorCode, maxBytes: number): Uint8Array[] {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size === 0) throw new FleetcertError(code, 'input is empty');
  if (size > maxBytes * 2) throw new FleetcertError(code, `input of ${size} bytes exceeds the limit`);
  let blocks: Uint8Array[];
  if (typeof input === 'string') {
    blocks = decodePem(input, code);
  } else {
    blocks = [input];
  }
  for (const b of blocks) {
    if (b.byteLength > maxBytes) throw new FleetcertError(code, `object of ${b.byteLength} bytes exceeds ${maxBytes}`);
  }
  return blocks;
}

export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`, ''].join('\n');
}

/**
 * RFC 7468 blocks as @peculiar/x509's PemConverter reads them (the agent's `run` path must not
 * load that library, so the one PEM reader is here): a BEGIN line, optional RFC 1421 headers
 * (skipped), base64 lines, the matching END line; CRs ignored, text between blocks ignored.
 */
const PEM_BLOCK =
  /-{5}BEGIN ([^\n]+(?=-{5}))-{5}\n(?:(?:[^:\n]+: (?:[^\n]+\n(?: +[^\n]+\n)*))+)?\n?((?:[a-zA-Z0-9=+/]+\n)+)-{5}END \1-{5}/g;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodePem(text: string, code: ErrorCode): Uint8Array[] {
  const blocks = [...text.replace(/\r/g, '').matchAll(PEM_BLOCK)].map((m) => m[2]!.replace(/\n+/g, ''));
  if (blocks.length === 0) throw new FleetcertError(code, 'input is not PEM');
  return blocks.map((base64) => {
    if (!BASE64.test(base64)) throw new FleetcertError(code, 'malformed PEM');
    return new Uint8Array(Buffer.from(base64, 'base64'));
  });
}

/** A copy as a standalone ArrayBuffer (x509 and WebCrypto want ArrayBuffers, not views). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  // Not bytes.slice(): on a Buffer that is a view of the same memory, and a small Buffer's
  // .buffer is Node's whole 8 KiB pool. The Uint8Array constructor copies exactly the view.
  return new Uint8Array(bytes).buffer;
}

/** Lowercase hex SHA-256, the fingerprint format used in files, logs and pins. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
