/** The fan-out bus settings (BUS, NATS_*, OUTBOX_RELAY_AFTER_MS): defaults, what NATS users set, and what is refused. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { subjectFor } from '../../src/fanout/nats-wire.ts';

describe('bus configuration', () => {
  it('defaults to the PostgreSQL bus; NATS settings default to a local server', () => {
    const config = loadConfig({});
    expect(config.bus).toBe('pg');
    expect(config.nats).toMatchObject({ servers: ['nats://127.0.0.1:4222'], subjectPrefix: 'chat', stream: 'CHAT_EVENTS', streamReplicas: 1, relayAfterMs: 1000, testKillAfterCommit: false });
  });

  it('reads servers, credentials and TLS files as NATS users give them', () => {
    const config = loadConfig({
      BUS: 'nats',
      NATS_URL: 'tls://n1:4222, tls://n2:4222',
      NATS_CREDS: '/etc/nats/chat.creds',
      NATS_TLS_CA: '/etc/nats/ca.pem',
      NATS_TLS_CERT: '/etc/nats/client.pem',
      NATS_TLS_KEY: '/etc/nats/client-key.pem',
      NATS_SUBJECT_PREFIX: 'shop-eu',
      NATS_STREAM: 'SHOP_EU_CHAT',
      NATS_STREAM_REPLICAS: '3',
      OUTBOX_RELAY_AFTER_MS: '2000',
    });
    expect(config.bus).toBe('nats');
    expect(config.nats).toMatchObject({
      servers: ['tls://n1:4222', 'tls://n2:4222'],
      credsFile: '/etc/nats/chat.creds',
      tlsCaFile: '/etc/nats/ca.pem',
      tlsCertFile: '/etc/nats/client.pem',
      tlsKeyFile: '/etc/nats/client-key.pem',
      subjectPrefix: 'shop-eu',
      stream: 'SHOP_EU_CHAT',
      streamReplicas: 3,
      relayAfterMs: 2000,
    });
    expect(loadConfig({ NATS_USER: 'chat', NATS_PASSWORD: 's3cret' }).nats).toMatchObject({ user: 'chat', pass: 's3cret' });
    expect(loadConfig({ NATS_TOKEN: 't0ken' }).nats.token).toBe('t0ken');
  });

  it('refuses what cannot work, with the variable named', () => {
    const refused: [Record<string, string>, RegExp][] = [
      [{ BUS: 'redis' }, /BUS must be one of pg, nats/],
      [{ NATS_USER: 'chat' }, /NATS_USER and NATS_PASSWORD/],
      [{ NATS_TOKEN: 't', NATS_CREDS: '/x.creds' }, /one of NATS_CREDS/],
      [{ NATS_TLS_CERT: '/c.pem' }, /NATS_TLS_CERT and NATS_TLS_KEY/],
      [{ NATS_SUBJECT_PREFIX: 'chat.eu' }, /NATS_SUBJECT_PREFIX/],
      [{ NATS_SUBJECT_PREFIX: 'a*' }, /NATS_SUBJECT_PREFIX/],
      [{ NATS_STREAM: 'a b' }, /NATS_STREAM/],
      [{ OUTBOX_RELAY_AFTER_MS: '10' }, /OUTBOX_RELAY_AFTER_MS/],
      [{ CHAT_TEST_KILL_AFTER_COMMIT: 'true', NODE_ENV: 'production', AUTH_SECRET: 'x'.repeat(40) }, /test hook/],
    ];
    for (const [env, message] of refused) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message);
    expect(() => loadConfig({ BUS: 'redis' })).toThrow(ConfigError);
  });

  it('no user id or conversation id shapes a subject', () => {
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect(subjectFor('chat', 'ev', `c:${id}`)).toBe(`chat.ev.c.${id}`);
    for (const userId of ['alice', 'a.b', 'a b', '*', '>', 'x\r\nPUB evil 1', 'é'.repeat(255)]) {
      const subject = subjectFor('chat', '*', `u:${userId}`);
      expect(subject).toMatch(/^chat\.\*\.u\.[A-Za-z0-9_-]{22}$/);
    }
    // A conversation key that is not a UUID is hashed as well.
    expect(subjectFor('chat', 'sig', 'c:not.a.uuid')).toMatch(/^chat\.sig\.c\.[A-Za-z0-9_-]{22}$/);
    expect(subjectFor('chat', 'ev', 'u:alice')).not.toBe(subjectFor('chat', 'ev', 'u:bob'));
  });
});
