/** Prometheus metrics (prom-client), one registry per app so tests can run several instances. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(instanceId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: instanceId });
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  /** Read at scrape time; the app points these at its live structures. */
  const sizes = { rooms: () => 0, sendQueue: () => 0, busSubscriptions: () => 0 };
  return {
    registry,
    sizes,
    connections: new Gauge({ name: 'chat_ws_connections', help: 'Open WebSocket connections', registers: r }),
    connectsTotal: new Counter({ name: 'chat_ws_connects_total', help: 'WebSocket connections accepted', registers: r }),
    rejectedUpgrades: new Counter({ name: 'chat_ws_rejected_upgrades_total', help: 'Upgrades refused', labelNames: ['code'], registers: r }),
    framesIn: new Counter({ name: 'chat_ws_frames_in_total', help: 'Frames received', labelNames: ['type'], registers: r }),
    framesOut: new Counter({ name: 'chat_ws_frames_out_total', help: 'Frames sent', registers: r }),
    errorsSent: new Counter({ name: 'chat_errors_total', help: 'Typed errors returned (HTTP and WS)', labelNames: ['code', 'transport'], registers: r }),
    closes: new Counter({ name: 'chat_ws_closes_total', help: 'Connections closed by the server', labelNames: ['code'], registers: r }),
    messagesPersisted: new Counter({ name: 'chat_messages_persisted_total', help: 'Messages committed', registers: r }),
    sendBatchSize: new Histogram({ name: 'chat_send_batch_size', help: 'Messages per group-commit transaction', buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500], registers: r }),
    sendCommitSeconds: new Histogram({ name: 'chat_send_commit_seconds', help: 'Send accepted → committed', buckets: LATENCY_BUCKETS, registers: r }),
    sendAckSeconds: new Histogram({ name: 'chat_send_ack_seconds', help: 'WS send frame received → ack written', buckets: LATENCY_BUCKETS, registers: r }),
    fanoutLagSeconds: new Histogram({ name: 'chat_fanout_lag_seconds', help: 'Message created → delivered to local sockets on this instance', buckets: LATENCY_BUCKETS, registers: r }),
    listenerReconnects: new Counter({ name: 'chat_listener_reconnects_total', help: 'Fan-out listener re-subscriptions', registers: r }),
    listenerUp: new Gauge({ name: 'chat_listener_up', help: '1 while the fan-out listener is subscribed', registers: r }),
    busInvalidRecords: new Counter({ name: 'chat_bus_invalid_records_total', help: 'Fan-out records dropped because they failed validation', registers: r }),
    phantomEvents: new Counter({ name: 'chat_fanout_phantom_events_total', help: 'Fan-out events dropped because the database has no such seq', registers: r }),
    gapFills: new Counter({ name: 'chat_gap_filled_events_total', help: 'Events read from the database to close a gap in the live stream', registers: r }),
    replayedEvents: new Counter({ name: 'chat_resume_replayed_events_total', help: 'Events replayed to resuming clients', registers: r }),
    rooms: new Gauge({
      name: 'chat_rooms',
      help: 'Conversations with local subscribers',
      registers: r,
      collect() {
        this.set(sizes.rooms());
      },
    }),
    sendQueue: new Gauge({
      name: 'chat_send_queue',
      help: 'Sends waiting for a batch (both batches in flight are busy)',
      registers: r,
      collect() {
        this.set(sizes.sendQueue());
      },
    }),
    busEventsReceived: new Counter({ name: 'chat_bus_events_received_total', help: 'Stream events the bus delivered to this instance (decoded), whether or not a local socket wanted them', registers: r }),
    busConnected: new Gauge({ name: 'chat_bus_nats_connected', help: '1 while the NATS bus is connected and subscribed (BUS=nats)', registers: r }),
    busSubscriptions: new Gauge({
      name: 'chat_bus_subscriptions',
      help: 'Routing keys (conversations and users) this instance subscribes to on the bus (BUS=nats)',
      registers: r,
      collect() {
        this.set(sizes.busSubscriptions());
      },
    }),
    busPublishSeconds: new Histogram({ name: 'chat_bus_publish_seconds', help: 'Commit → JetStream acknowledged every publish of it (writer and relay)', buckets: LATENCY_BUCKETS, registers: r }),
    busPublishFailures: new Counter({ name: 'chat_bus_publish_failures_total', help: 'Publishes JetStream did not acknowledge (left to the outbox relay)', registers: r }),
    busDuplicatePublishes: new Counter({ name: 'chat_bus_duplicate_publishes_total', help: 'Publishes JetStream had already stored (relay or retry after the writer): redeliveries', registers: r }),
    busDuplicateEvents: new Counter({ name: 'chat_bus_duplicate_events_total', help: 'Events the bus delivered again, dropped by the rooms (seq already passed on)', registers: r }),
    outboxRelayed: new Counter({ name: 'chat_bus_outbox_relayed_total', help: 'Outbox rows published by the relay (their writer had not)', labelNames: ['kind'], registers: r }),
    outboxRelayLagSeconds: new Histogram({
      name: 'chat_bus_outbox_relay_lag_seconds',
      help: 'Age of the oldest row of each relay pass that published rows (commit → relayed)',
      buckets: [0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300],
      registers: r,
    }),
    busReconnects: new Counter({ name: 'chat_bus_reconnects_total', help: 'NATS bus re-subscriptions after a disconnect', registers: r }),
    slowConsumers: new Counter({ name: 'chat_slow_consumer_disconnects_total', help: 'Sockets cut off for not reading', registers: r }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
