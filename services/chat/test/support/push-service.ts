/**
 * A push service for the tests, on loopback, speaking RFC 8030 as the browser vendors' do:
 * it accepts a POST to a subscription's endpoint only with a valid VAPID header (RFC 8292:
 * an ES256 JWT whose `aud` is this origin and whose `exp` is in the future, signed by the key
 * in `k=`), and decrypts the `aes128gcm` body (RFC 8291 / RFC 8188) with the subscription's
 * private key and auth secret, so a test sees exactly what a browser's service worker would.
 * The primitives are node:crypto's (ECDH, HKDF, AES-GCM) and jose's (JWT); only RFC 8291's
 * key-derivation steps are written here.
 */
import { createDecipheriv, createECDH, hkdfSync, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';

export interface Device {
  id: string;
  ecdh: ECDH;
  publicKey: Buffer;
  auth: Buffer;
  /** The body POST /v1/push/subscriptions takes (PushSubscription.toJSON()). */
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
}

export interface Received {
  payload: any;
  headers: { ttl: string | undefined; topic: string | undefined; urgency: string | undefined };
}

export class PushService {
  readonly received = new Map<string, Received[]>();
  /** Every request per device, accepted or not. */
  readonly requests = new Map<string, number>();
  /** Status codes to answer next, per device (then 201). */
  readonly script = new Map<string, number[]>();
  /** Devices whose next request is held unanswered until its connection closes (a sender that dies mid-send). */
  readonly hold = new Set<string>();
  /** Requests that failed verification: a test fails if any. */
  readonly problems: string[] = [];
  private constructor(
    private readonly server: Server,
    readonly origin: string,
    private readonly vapidPublicKey: string,
  ) {}

  static async start(vapidPublicKey: string): Promise<PushService> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const service = new PushService(server, `http://127.0.0.1:${port}`, vapidPublicKey);
    server.on('request', (request, response) => {
      service.handle(request).then(
        (status) => response.writeHead(status).end(),
        (error: unknown) => {
          service.problems.push(String(error));
          response.writeHead(400).end();
        },
      );
    });
    return service;
  }

  private readonly devices = new Map<string, Device>();

  /** A browser's subscription: a P-256 key pair and a 16-byte auth secret. */
  device(): Device {
    const id = randomBytes(8).toString('hex');
    const ecdh = createECDH('prime256v1');
    const publicKey = ecdh.generateKeys();
    const auth = randomBytes(16);
    const device = {
      id,
      ecdh,
      publicKey,
      auth,
      subscription: { endpoint: `${this.origin}/push/${id}`, keys: { p256dh: publicKey.toString('base64url'), auth: auth.toString('base64url') } },
    };
    this.devices.set(id, device);
    return device;
  }

  notifications(device: Device): Received[] {
    return this.received.get(device.id) ?? [];
  }

  private async handle(request: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const id = /^\/push\/([0-9a-f]+)$/.exec(request.url ?? '')?.[1];
    const device = id ? this.devices.get(id) : undefined;
    if (request.method !== 'POST' || !device) return 404;
    this.requests.set(device.id, (this.requests.get(device.id) ?? 0) + 1);
    await this.verifyVapid(request.headers.authorization);
    if (request.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${request.headers['content-encoding']}`);
    if (request.headers.ttl === undefined) throw new Error('no TTL header');
    if (this.hold.delete(device.id)) {
      await new Promise((resolve) => request.socket.once('close', resolve));
      return 503;
    }
    const scripted = this.script.get(device.id)?.shift();
    if (scripted !== undefined) return scripted;
    const payload = JSON.parse(decrypt(body, device)) as unknown;
    const list = this.received.get(device.id) ?? [];
    list.push({
      payload,
      headers: { ttl: request.headers.ttl as string, topic: request.headers.topic as string | undefined, urgency: request.headers.urgency as string | undefined },
    });
    this.received.set(device.id, list);
    return 201;
  }

  /** RFC 8292: `vapid t=<JWT>, k=<public key>`; the JWT signed with k's key for this origin, not expired, at most 24 h ahead. */
  private async verifyVapid(header: string | undefined): Promise<void> {
    const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
    if (!match) throw new Error(`Authorization is not a VAPID header: ${header}`);
    const [, token, k] = match;
    if (k !== this.vapidPublicKey) throw new Error('k is not the service key');
    const point = Buffer.from(k!, 'base64url');
    const key = await importJWK({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, 'ES256');
    const { payload } = await jwtVerify(token!, key, { algorithms: ['ES256'], audience: this.origin, requiredClaims: ['exp', 'sub'] });
    if (payload.exp! > Date.now() / 1000 + 24 * 3600) throw new Error('exp more than 24 h ahead');
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** RFC 8291 §3.4 key derivation over node:crypto, then one RFC 8188 record. */
export function decrypt(body: Buffer, device: Device): string {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20]!;
  const senderKey = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  if (idLength !== 65 || record.length > recordSize) throw new Error('not one aes128gcm record with a P-256 key id');
  const ecdhSecret = device.ecdh.computeSecret(senderKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), device.publicKey, senderKey]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, device.auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error('the last record does not end with the 0x02 delimiter');
  return plain.subarray(0, end).toString('utf8');
}
