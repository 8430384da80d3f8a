CREATE TABLE "webhook_dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"endpoint_id" text NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text NOT NULL,
	"payload" text,
	"attempts" integer NOT NULL,
	"last_status" integer,
	"last_error" text,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "webhook_dead_letters_endpoint_idx" ON "webhook_dead_letters" USING btree ("endpoint_id","failed_at");--> statement-breakpoint
-- Webhooks: every committed message gets one `webhook.deliver` job per endpoint subscribed to
-- message.created, enqueued in the send's own transaction (so an event exists if and only if
-- its message committed). Only connections that set `chat.webhooks` (the comma-separated
-- endpoint ids, which config.ts limits to letters, digits, _ and -) enqueue; elsewhere this does
-- nothing. Statement-level, over the transition table, like messages_push_enqueue.
CREATE FUNCTION chat_webhook_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  endpoints text := current_setting('chat.webhooks', true);
  attempts int := coalesce(nullif(current_setting('chat.webhook_max_attempts', true), '')::int, 20);
BEGIN
  IF endpoints IS NULL OR endpoints = '' THEN
    RETURN NULL;
  END IF;
  PERFORM graphile_worker.add_job(
    'webhook.deliver',
    json_build_object('endpointId', e.endpoint_id, 'type', 'message.created', 'messageId', n.id),
    max_attempts => attempts)
  FROM new_rows n CROSS JOIN unnest(string_to_array(endpoints, ',')) AS e(endpoint_id);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER messages_webhook_enqueue AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_webhook_enqueue();
