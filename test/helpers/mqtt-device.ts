/** A device's MQTT connection for tests: mqtt.js over mutual TLS, MQTT 5, as an agent connects. */
import mqtt from 'mqtt';

export interface DeviceCredentials {
  readonly chainPem: string;
  readonly keyPem: string;
}

export interface ConnectOptions {
  readonly caPem: string;
  readonly port: number;
  /** 0: do not reconnect (default); otherwise the reconnect period in ms. */
  readonly reconnectPeriod?: number;
  readonly will?: mqtt.IClientOptions['will'];
}

export function connectDevice(creds: DeviceCredentials, options: ConnectOptions): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${options.port}`, {
    protocolVersion: 5,
    ca: options.caPem,
    cert: creds.chainPem,
    key: creds.keyPem,
    servername: 'localhost',
    rejectUnauthorized: true,
    reconnectPeriod: options.reconnectPeriod ?? 0,
    connectTimeout: 5_000,
    noDelay: true,
    ...(options.will ? { will: options.will } : {}),
  } as mqtt.IClientOptions);
}

/** Resolves with the first message on a topic filter, or rejects after `timeoutMs`. */
export function nextMessage(client: mqtt.MqttClient, timeoutMs = 3_000): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (topic: string, payload: Buffer) => {
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic, payload: payload.toString() });
    };
    client.on('message', onMessage);
  });
}
