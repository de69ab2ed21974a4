/**
 * Phase one and a half of a renewal: prove a renewed certificate before it becomes live
 * (thin-edge.io promotes its `.new` certificate only after a reconnect with it succeeds). One
 * short mutual-TLS connection with the candidate's files, this device's client id, and the
 * retained `online` status carrying the new serial, acknowledged by the broker (QoS 1): the
 * broker accepted the certificate, and the server, which follows the status topics, sees the
 * device use it. Bounded in time; never retries (the renewal schedule does).
 */
import mqtt from 'mqtt';
import type { Logger } from '../../shared/log/logger.js';
import { deviceTopics } from '../../shared/protocol/topics.js';
import type { CredentialFiles } from '../config/state-layout.js';
import { leafOf, readCredentialPems } from '../credentials/credential-store.js';
import { brokerUrl, deviceClientOptions, statusPayload, type BrokerAddress } from './device-connection.js';

export interface ProofParams {
  readonly broker: BrokerAddress;
  readonly deviceId: string;
  readonly files: CredentialFiles;
  readonly agentVersion: string;
  readonly timeoutMs: number;
  readonly log: Logger;
}

export type ProofResult = { readonly proven: true } | { readonly proven: false; readonly reason: string };

export async function proveCertificate(p: ProofParams): Promise<ProofResult> {
  const pems = await readCredentialPems(p.files);
  const leaf = leafOf(pems.certChainPem);
  const client = mqtt.connect(brokerUrl(p.broker), {
    ...deviceClientOptions({ broker: p.broker, deviceId: p.deviceId, pems }),
    reconnectPeriod: 0,
    connectTimeout: p.timeoutMs,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        client.once('connect', () => {
          client
            .publishAsync(deviceTopics(p.deviceId).status, statusPayload('online', leaf, p.agentVersion), { qos: 1, retain: true })
            .then(() => resolve(), reject);
        });
        client.once('error', reject);
        client.once('close', () => reject(new Error('the broker closed the connection')));
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no acknowledged connection within ${p.timeoutMs} ms`)), p.timeoutMs);
      }),
    ]);
    p.log.info('the renewed certificate connected to the broker', {
      event: 'renewal_proven',
      serial: leaf.serialNumber,
      broker: `${p.broker.host}:${p.broker.port}`,
    });
    return { proven: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { proven: false, reason: `${(err as Error).message}${code ? ` (${code})` : ''}` };
  } finally {
    clearTimeout(timer);
    await client.endAsync(true).catch(() => undefined);
  }
}
