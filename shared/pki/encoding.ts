/**
 * Bytes in and out of the formats we meet: PEM (one or many blocks), DER, and the base64
 * bodies EST uses. Sizes are bounded here, before any ASN.1 parser sees the data.
 */
import { createHash } from 'node:crypto';
import { FleetcertError, type ErrorCode } from '../errors.js';
import { x509 } from './x509-provider.js';

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
    if (!x509.PemConverter.isPem(input)) throw new FleetcertError(code, 'input is not PEM');
    try {
      blocks = x509.PemConverter.decode(input).map((b) => new Uint8Array(b));
    } catch (err) {
      throw new FleetcertError(code, 'malformed PEM', { cause: err });
    }
  } else {
    blocks = [input];
  }
  for (const b of blocks) {
    if (b.byteLength > maxBytes) throw new FleetcertError(code, `object of ${b.byteLength} bytes exceeds ${maxBytes}`);
  }
  return blocks;
}

export function toPem(der: Uint8Array, label: string): string {
  return x509.PemConverter.encode(toArrayBuffer(der), label) + '\n';
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
