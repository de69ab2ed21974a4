import type { AddressInfo, Server } from 'node:net';

/** Listens and resolves with the bound address; a failure to bind (EADDRINUSE, EACCES) rejects instead of being thrown later. */
export async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
