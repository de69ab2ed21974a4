/**
 * `fleetcert-agent run`: the service. Enrolls if needed (waiting and retrying for as long as it
 * takes), connects to the broker over mutual TLS, and stays connected until SIGTERM/SIGINT.
 */
import { Command } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { VERSION } from '../../shared/version.js';
import { SavedClock } from '../clock/clock-floor.js';
import { resolveBrokerTrust } from '../config/broker-trust.js';
import { DeviceConnection } from '../mqtt/device-connection.js';
import { BridgedConnection } from '../mqtt/bridged-connection.js';
import { renderBridgeConfig } from '../local-broker/bridge-config.js';
import { LocalBroker } from '../local-broker/local-broker.js';
import { userInfo } from 'node:os';
import { OutboxPublisher, prepareSharedOutbox } from '../outbox/outbox.js';
import { ensureEnrolled } from '../runtime/ensure-enrolled.js';
import { writeBrokerInfo } from '../discovery/endpoints.js';
import { rediscoverEndpoints, rediscoveryDue } from '../discovery/rediscover.js';
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
import { locateToken } from '../config/bootstrap-token.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { ConnectionState } from '../mqtt/device-connection.js';
import { StatusFile } from '../runtime/agent-status.js';

/** The error code a status file records for a connection the broker will not take. */
const CONNECTION_FAILURES: Partial<Record<ConnectionState, ErrorCode>> = {
  revoked: 'device_revoked',
  expired: 'cert_expired',
  untrusted: 'chain_invalid',
  clock: 'cert_not_yet_valid',
};

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
        '("fleetcert-agent publish"). With "localBroker" in agent.json, runs a Mosquitto on loopback for local ' +
        'programs (Node-RED), bridged to the fleet broker with the device certificate, and connects through it ' +
        '(docs/NODE-RED.md). Logs JSON lines to stderr.',
    )
    .addHelpText(
      'after',
      `
Examples:
  systemctl start fleetcert-agent   # the unit runs: fleetcert-agent run
  fleetcert-agent run --enroll-url https://broker.local:8443 --broker broker.local:8883   # no mDNS on this network
  fleetcert-agent run --log-level debug`,
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
    // SIGHUP (the unit's ExecReload, "fleetcert-agent renew"): the live certificate changed, connect with it now.
    // Handled from the first moment too: Node's default would end the service.
    let onReload = (): void => log.info('reload requested during start-up: nothing to reload yet', { event: 'reload_requested' });
    process.on('SIGHUP', () => onReload());
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
    // The endpoints as they are now: a rediscovery (the broker moved to another name or port) replaces them.
    let endpoints = enrolled.endpoints;
    let rediscovering = false;
    const rediscover = async (): Promise<void> => {
      if (rediscovering) return;
      rediscovering = true;
      try {
        const next = await rediscoverEndpoints(endpoints, config.discoveryTimeoutSeconds, log.child('discovery'));
        if (!next) return;
        endpoints = next;
        await writeBrokerInfo(layout.brokerInfo, enrolled.deviceId, next, layout.live);
        await connection.moveTo({ ...next.broker, trust: brokerTrust });
      } finally {
        rediscovering = false;
      }
    };
    /** After `failures` failed connects in a row (minutes of a bridge down), a browse when it is due. */
    const rediscoverWhenDue = (failures: number): void => {
      if (rediscoveryDue(failures))
        void rediscover().catch((err: unknown) => log.warn('rediscovery failed', { event: 'broker_rediscovery_failed', err }));
    };
    const clock = new SavedClock(layout.clockFile, log);
    const status = new StatusFile(
      layout.statusFile,
      {
        agentVersion: VERSION,
        deviceId: enrolled.deviceId,
        connection: { state: 'connecting', since: new Date().toISOString() },
        lastError: null,
        nextRenewalCheck: null,
        token: await locateToken(layout, config.bootstrapFiles),
      },
      log,
    );
    status.update({});
    const systemd = new SystemdNotifier({ socket: process.env.NOTIFY_SOCKET, log: log.child('systemd') });
    // How the broker's certificate is verified: fixed by the bootstrap file, whichever address a rediscovery finds.
    const brokerTrust = await resolveBrokerTrust(config.bootstrapFiles, layout.bootstrapCopy);
    const onState = (state: ConnectionState, detail: string): void => {
      status.connection(state, detail);
      const failure = CONNECTION_FAILURES[state];
      if (failure) status.error(failure, detail);
      if (state !== 'online') return;
      systemd.ready(`connected as ${enrolled.deviceId}`);
      outbox.kick();
      // A verified mutual-TLS connection: the clock is right now (saved at most hourly).
      clock.save(new Date()).catch((err: unknown) => log.warn('could not save the clock', { event: 'clock_save_failed', err }));
    };
    const broker = { ...endpoints.broker, trust: brokerTrust };
    const local = config.localBroker;
    const connection = local
      ? new BridgedConnection({
          localBroker: new LocalBroker({
            mosquitto: local.mosquitto,
            dir: layout.localBroker,
            listen: local,
            log: log.child('local-broker'),
          }),
          listen: local,
          renderConfig: (to) =>
            renderBridgeConfig({
              deviceId: enrolled.deviceId,
              broker: to,
              trust: brokerTrust,
              live: layout.live,
              listen: local,
              dataDir: layout.localBroker,
              user: userInfo().username,
              maxQueuedMessages: local.maxQueuedMessages,
            }),
          broker,
          deviceId: enrolled.deviceId,
          files: layout.live,
          agentVersion: VERSION,
          log: log.child('mqtt'),
          takeOver: (to) =>
            proveCertificate({
              broker: to,
              deviceId: enrolled.deviceId,
              files: layout.live,
              agentVersion: VERSION,
              timeoutMs: PROOF_TIMEOUT_MS,
              log: log.child('mqtt'),
            }),
          // The bridge's failed connects are mosquitto's: a bridge down for a few minutes is the agent's cue.
          onBridgeDown: rediscoverWhenDue,
          onState,
        })
      : new DeviceConnection({
          broker,
          deviceId: enrolled.deviceId,
          files: layout.live,
          agentVersion: VERSION,
          log: log.child('mqtt'),
          onConnectFailed: rediscoverWhenDue,
          onState,
        });
    const outbox = new OutboxPublisher({
      dir: layout.outbox,
      publish: (topic, payload) => connection.publishOwn(topic, payload),
      log: log.child('outbox'),
    });
    if (config.outboxGroup) await prepareSharedOutbox(layout.outbox, config.outboxGroup);
    await connection.start();
    await outbox.start();
    // The proof of a renewed certificate takes this connection's place for a moment (one session per client id).
    const proveOnOwnConnection: RenewParams['prove'] = async (candidate, deviceId) => {
      await connection.suspend();
      const proof = await proveCertificate({
        broker: { ...endpoints.broker, trust: brokerTrust },
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
      readHint: () => fetchRenewalHint(store, endpoints.enroll, log.child('renew')),
      renew: async () => {
        try {
          await renewCertificate({ ...renewal, endpoint: endpoints.enroll });
        } finally {
          // Proven and committed: connect with the new live files; anything else: never stay suspended.
          await connection.follow();
        }
      },
      onNewCertificate: () => connection.follow(),
      backoff: { ...RENEWAL_BACKOFF, firstSeconds: config.renewRetrySeconds },
      log: log.child('renew'),
      onChecked: ({ at, error }) => {
        status.nextRenewalCheck(at);
        if (error) status.error(error.code, error.message);
      },
    });
    onReload = () => {
      log.info('reload requested: connecting with the live certificate', { event: 'reload_requested' });
      connection.follow().catch((err: unknown) => log.error('could not follow the live certificate', { err }));
    };
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
    status.connection('stopped', `stopped by ${signal}`);
    await status.settled();
    log.info('stopped', { event: 'stopped' });
  });
}
