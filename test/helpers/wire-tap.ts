/**
 * Test-only preload (`node --import wire-tap.js`): records every byte the process writes to
 * any socket (HTTP requests and MQTT packets alike, as plaintext before TLS) into the file
 * named by FLEETCERT_TEST_WIRE_TAP. Nothing in the product knows about it: it patches
 * net.Socket, which TLSSocket extends, so the key-never-leaves test sees what really goes out.
 */
import { appendFileSync } from 'node:fs';
import { Socket } from 'node:net';

const file = process.env.FLEETCERT_TEST_WIRE_TAP;
if (file) {
  const record = (chunk: unknown, encoding?: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array);
    appendFileSync(file, bytes);
  };
  const write = Socket.prototype.write;
  Socket.prototype.write = function patchedWrite(this: Socket, chunk: unknown, ...rest: unknown[]) {
    record(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
  const end = Socket.prototype.end;
  Socket.prototype.end = function patchedEnd(this: Socket, chunk?: unknown, ...rest: unknown[]) {
    record(chunk, rest[0]);
    return (end as (...a: unknown[]) => Socket).call(this, chunk, ...rest);
  } as typeof Socket.prototype.end;
}
