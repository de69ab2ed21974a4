/**
 * A separate program for the mDNS test: browses for `_secure-mqtt._tcp` with bonjour-service
 * and prints the first service found as JSON (exit 0), or exits 1 after the timeout. Run only
 * inside a private network namespace, so no multicast leaves the test.
 */
import { Bonjour, type Service } from 'bonjour-service';
import { MDNS_SERVICE_TYPE } from '#shared/protocol/discovery.js';

const timeoutMs = Number(process.argv[2] ?? '8000');
const bonjour = new Bonjour();
bonjour.findOne({ type: MDNS_SERVICE_TYPE }, timeoutMs, (service: Service | null) => {
  if (service) {
    process.stdout.write(
      JSON.stringify({
        name: service.name,
        type: service.type,
        host: service.host,
        port: service.port,
        txt: service.txt,
        from: service.referer?.address,
      }) + '\n',
    );
  }
  bonjour.destroy();
  process.exit(service ? 0 : 1);
});
