/** The key directory's HTTP routes (docs/e2e.md), over the SDK's authenticated ChatHttp. */
import type { Conversation, ConversationKeys, DeviceBundle, UserKeys } from '@chat/protocol';
import type { ChatHttp } from '../http.ts';

const enc = encodeURIComponent;

export class KeyDirectory {
  /** @example const directory = new KeyDirectory(client.http); */
  constructor(private readonly http: ChatHttp) {}

  /** Publishes (or, after a rotation, replaces) this device's bundle. @example await directory.publish(await device.bundle()); */
  async publish(bundle: DeviceBundle): Promise<void> {
    await this.http.call('PUT', `/v1/keys/devices/${enc(bundle.deviceId)}`, { json: bundle });
  }

  /** A user's published devices (only users you share a conversation with). @example const { devices } = await directory.userDevices('bob'); */
  userDevices(userId: string): Promise<UserKeys> {
    return this.http.call('GET', `/v1/keys/users/${enc(userId)}`);
  }

  /** Every device of every member: what a message is sealed to. @example const { devices } = await directory.conversationDevices(conversationId); */
  conversationDevices(conversationId: string): Promise<ConversationKeys> {
    return this.http.call('GET', `/v1/conversations/${enc(conversationId)}/keys`);
  }

  /** Removes one of your devices (a lost laptop). @example await directory.remove(deviceId); */
  async remove(deviceId: string): Promise<void> {
    await this.http.call('DELETE', `/v1/keys/devices/${enc(deviceId)}`);
  }

  /** Opens (or returns) the encrypted direct conversation with a user: a separate conversation from the plain one. @example const c = await directory.createEncryptedDirect('bob'); */
  createEncryptedDirect(userId: string): Promise<Conversation> {
    return this.http.call('POST', '/v1/conversations/direct', { json: { userId, encrypted: true } });
  }
}
