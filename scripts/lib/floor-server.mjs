// The transport floor for scripts/bench.mjs: a bare Node HTTPS server with fleetcert serve's own
// TLS settings (its enrollment certificate and key, the same CA list, a client certificate asked for
// but not required, TLS 1.2+) that reads the request body and answers a fixed body of the size of
// a real enrollment reply. Everything fleetcert does on top of this is what the bench measures.
// Usage: node floor-server.mjs <cert.pem> <key.pem> <reply-bytes> <ca.pem>...; prints {"port":n}.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certFile, keyFile, replyBytes, ...caFiles] = process.argv.slice(2);
const reply = Buffer.alloc(Number(replyBytes), 0x41);
const server = createServer(
  {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    ca: caFiles.map((file) => readFileSync(file, 'utf8')), // serve sends the root and the intermediate
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  },
  (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/pkcs7-mime; smime-type=certs-only', 'content-transfer-encoding': 'base64' });
      res.end(reply);
    });
  },
);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
