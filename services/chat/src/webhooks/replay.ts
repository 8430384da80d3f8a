/**
 * Replays an endpoint's dead letters (docs/webhooks.md "Dead letters and replay"): each is
 * POSTed again as it was stored, with its original event id (a receiver that did get it
 * de-duplicates) and a fresh timestamp and signatures, oldest first. A replayed event arrives
 * after the later events of its conversation, which were delivered meanwhile: receivers order
 * by `data.seq`. Within one conversation, replays keep seq order: after a refusal, that
 * conversation's later dead letters wait for the next replay.
 */
import type { Database } from '@chat/db';
import type { WebhookEndpoint } from '../config.ts';
import { deadLettersToReplay, markReplayed } from '../db/webhooks.ts';
import { post } from './deliver.ts';

export interface ReplayReport {
  replayed: number;
  failed: { eventId: string; error: string }[];
  /** Left for later behind a refused dead letter of the same conversation. */
  held: number;
}

export async function replayDeadLetters(db: Database, endpoint: WebhookEndpoint, options: { since: Date | null; limit: number }): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: 0, failed: [], held: 0 };
  const blocked = new Set<string>();
  for (const letter of await deadLettersToReplay(db, endpoint.id, options.since, options.limit)) {
    const conversation = letter.conversationId ?? '';
    if (letter.payload === null || blocked.has(conversation)) {
      report.held++;
      continue;
    }
    const result = await post(endpoint, letter.eventId, letter.payload);
    if (result.error === null) {
      await markReplayed(db, letter.id);
      report.replayed++;
    } else {
      report.failed.push({ eventId: letter.eventId, error: result.error });
      blocked.add(conversation);
    }
  }
  return report;
}
