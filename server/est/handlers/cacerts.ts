/** GET /.well-known/est/cacerts: the CA certificates, PKCS#7 certs-only (RFC 7030 §4.1). */
import { certsOnlyReply, type Reply } from '../replies.js';
import type { HandlerContext } from './context.js';

export async function cacerts(ctx: HandlerContext): Promise<Reply> {
  return certsOnlyReply(ctx.caCertificates.map((c) => new Uint8Array(c.rawData)));
}
