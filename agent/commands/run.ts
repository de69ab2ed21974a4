/**
 * `fleetcert-agent run`: the service. Enrolls if needed (waiting and retrying for as long as it
 * takes), connects to the broker over mutual TLS, and stays connected until SIGTERM/SIGINT.
 */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { VERSION } from '../../shared/version.js';
import { SavedClock } from '../clock/clock-floor.js';
import { DeviceConnection } from '../mqtt/device-connection.js';
import { OutboxPublisher } from '../outbox/outbox.js';
import { ensureEnrolled } from '../runtime/ensure-enrolled.js';
import { SystemdNotifier } from '../runtime/systemd-notify.js';
import { isFleetcertError } from '../../shared/errors.js';
import { abortableSleep } from '../../shared/retry/abortable-sleep.js';
import { RENEWAL_BACKOFF } from '../../shared/retry/backoff.js';
import { fetchRenewalHint } from '../renewal/fetch-renewal-hint.js';
import { renewCertificate } from '../renewal/renew-certificate.js';
import { RenewalScheduler } from '../renewal/renewal-scheduler.js';
import { addCommonOptions, addRenewalOptions, agentContext, type CommonOptions } from './options.js';
import { PROOF_TIMEOUT_MS, renewalParams } from './renewal-params.js';
import { proveCertificate } from '../mqtt/prove-certificate.js';
import type { RenewParams } from '../renewal/renew-certificate.js';

export function runCommand(_io: CliIo): Command {
  const command = new Command('run')
    .summary('run the agent: enroll if needed, connect over mTLS, stay connected')
    .description(
      'The service the systemd unit starts. First boot: waits for a sane clock, reads the bootstrap file, ' +
        'finds the broker (mDNS) unless told, makes the key on the device, enrolls, installs. Then connects ' +
        'to Mosquitto over mutual TLS and publishes its status. Renews with a new key before expiry (checked ' +
        "at 2/3 of the lifetime, or when the server's renewal info says; re-checked every 15 min) and moves the connection " +
        'to the new certificate. An expired or revoked certificate falls back to the bootstrap token when a ' +
        'bootstrap file is still there. Publishes what local programs put in its outbox ' +
        '("fleetcert-agent publish"). Logs JSON lines to stderr.',
    );
  return addRenewalOptions(addCommonOptions(command)).action(async (options: CommonOptions) => {
    const { config, layout, log } = await agentContext(options);
    log.info('starting', { version: VERSION, stateDir: layout.root });
    // Signals are handled from the first moment: during start-up they abort every wait.
    const stop = new AbortController();
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        stop.abort(signal);
        resolve(signal);
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
    let enrolled;
    try {
      enrolled = await ensureEnrolled(config, layout, log, { giveUpOnOperator: false, sleep: abortableSleep(stop.signal) });
    } catch (err) {
      if (isFleetcertError(err, 'interrupted') || stop.signal.aborted) {
        log.info('stopped during start-up', { event: 'stopped_during_startup', signal: stop.signal.reason });
        return;
      }
      throw err;
    }
    const clock = new SavedClock(layout.clockFile, log);
    const systemd = new SystemdNotifier({ socket: process.env.NOTIFY_SOCKET, log: log.child('systemd') });
    const connection = new DeviceConnection({
      broker: enrolled.endpoints.broker,
      deviceId: enrolled.deviceId,
      files: layout.live,
      agentVersion: VERSION,
      log: log.child('mqtt'),
      onState: (state) => {
        if (state !== 'online') return;
        systemd.ready(`connected as ${enrolled.deviceId}`);
        outbox.kick();
        // A verified mutual-TLS connection: the clock is right now (saved at most hourly).
        clock.save(new Date()).catch((err: unknown) => log.warn('could not save the clock', { event: 'clock_save_failed', err }));
      },
    });
    const outbox = new OutboxPublisher({
      dir: layout.outbox,
      publish: (topic, payload) => connection.publishOwn(topic, payload),
      log: log.child('outbox'),
    });
    await connection.start();
    await outbox.start();
    // The proof of a renewed certificate takes this connection's place for a moment (one session per client id).
    const proveOnOwnConnection: RenewParams['prove'] = async (candidate, deviceId) => {
      await connection.suspend();
      const proof = await proveCertificate({
        broker: enrolled.endpoints.broker,
        deviceId,
        files: candidate.files,
        agentVersion: VERSION,
        timeoutMs: PROOF_TIMEOUT_MS,
        log: log.child('renew'),
      });
      if (!proof.proven) await connection.restart();
      return proof;
    };
    const renewal = await renewalParams(config, layout, enrolled.endpoints, log.child('renew'), proveOnOwnConnection);
    const { store } = renewal;
    const scheduler = new RenewalScheduler({
      cronExpression: config.renewCheck,
      readValidity: async () => {
        const live = await store.live();
        return (
          live && {
            serial: describeCertificate(live.certificate).serialNumber,
            notBefore: live.certificate.notBefore,
            notAfter: live.certificate.notAfter,
          }
        );
      },
      readHint: () => fetchRenewalHint(store, enrolled.endpoints.enroll, log.child('renew')),
      renew: async () => {
        try {
          await renewCertificate(renewal);
        } finally {
          // Proven and committed: connect with the new live files; anything else: never stay suspended.
          await connection.follow();
        }
      },
      onNewCertificate: () => connection.follow(),
      backoff: { ...RENEWAL_BACKOFF, firstSeconds: config.renewRetrySeconds },
      log: log.child('renew'),
    });
    connection.onCommand = (order) => scheduler.requestNow(order.reason ?? 'operator request');
    // Finish an interrupted renewal now, not when the old certificate is next due: the server may
    // already have superseded it with the candidate, or with a certificate for the pending key
    // (which it hands back when asked again). Asked for right after start(), before the first
    // check gets past its first await, so that this check is the one that renews.
    const unfinished = !enrolled.enrolledNow && ((await store.live())?.candidate !== undefined || (await store.hasPendingKey()));
    scheduler.start(describeCertificate(enrolled.live.certificate).serialNumber);
    if (unfinished) scheduler.requestNow('resuming an interrupted renewal');
    // A service runs until it is told to stop, whatever its connection is doing meanwhile.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const signal = await stopped;
    log.info('stopping', { signal });
    clearInterval(keepAlive);
    scheduler.stop();
    await outbox.stop();
    await connection.stop();
    log.info('stopped', { event: 'stopped' });
  });
}
