CREATE TABLE "webhook_cursors" (
	"endpoint_id" text NOT NULL,
	"conversation_id" uuid NOT NULL,
	"delivered_seq" bigint NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"failing_since" timestamp with time zone,
	CONSTRAINT "webhook_cursors_endpoint_id_conversation_id_pk" PRIMARY KEY("endpoint_id","conversation_id")
);
--> statement-breakpoint
ALTER TABLE "webhook_dead_letters" ADD COLUMN "replayed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_dead_letters" ADD COLUMN "conversation_id" uuid;--> statement-breakpoint
ALTER TABLE "webhook_dead_letters" ADD COLUMN "seq" bigint;--> statement-breakpoint
ALTER TABLE "webhook_cursors" ADD CONSTRAINT "webhook_cursors_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_cursors_failing_idx" ON "webhook_cursors" USING btree ("endpoint_id","failing_since") WHERE "webhook_cursors"."failing_since" is not null;--> statement-breakpoint
-- Webhooks in order per conversation (services/chat/src/webhooks/). 0008 enqueued one job per
-- message, and retries let a later message overtake an earlier one. Now every change to a
-- conversation (a message, or any `events` row) marks the pair (endpoint, conversation) of each
-- endpoint subscribed to its type: the pair's cursor row is created at the first such seq - 1,
-- and the pair's one drain job (job key and named queue `webhook:<endpoint>:<conversation>`, so
-- two never run at once) is enqueued in the writing transaction. The drain delivers what lies
-- above the cursor in seq order. preserve_run_at keeps a drain that waits out a back-off
-- waiting; while a drain runs, graphile-worker adds a second job behind it in the queue, so an
-- event committed during a drain is never stranded. Only connections that set
-- `chat.webhook_events` (a JSON object from event type to endpoint ids, which config.ts limits
-- to letters, digits, _ and -) do anything; elsewhere the triggers return at once.
DROP TRIGGER "messages_webhook_enqueue" ON "messages";
--> statement-breakpoint
DROP FUNCTION chat_webhook_enqueue();
--> statement-breakpoint
CREATE FUNCTION chat_webhook_touch(p_endpoint text, p_conversation uuid, p_first_seq bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  k text := 'webhook:' || p_endpoint || ':' || p_conversation;
BEGIN
  INSERT INTO webhook_cursors (endpoint_id, conversation_id, delivered_seq)
    VALUES (p_endpoint, p_conversation, p_first_seq - 1) ON CONFLICT DO NOTHING;
  PERFORM graphile_worker.add_job(
    'webhook.drain',
    json_build_object('endpointId', p_endpoint, 'conversationId', p_conversation),
    queue_name => k,
    max_attempts => 25,
    job_key => k,
    job_key_mode => 'preserve_run_at');
END;
$$;
--> statement-breakpoint
CREATE FUNCTION chat_webhook_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  subscribed jsonb := nullif(current_setting('chat.webhook_events', true), '')::jsonb;
BEGIN
  IF subscribed IS NULL OR NOT subscribed ? 'message.created' THEN
    RETURN NULL;
  END IF;
  PERFORM chat_webhook_touch(e.endpoint_id, n.conversation_id, min(n.seq))
  FROM new_rows n CROSS JOIN jsonb_array_elements_text(subscribed -> 'message.created') AS e(endpoint_id)
  GROUP BY e.endpoint_id, n.conversation_id;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION chat_webhook_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  subscribed jsonb := nullif(current_setting('chat.webhook_events', true), '')::jsonb;
BEGIN
  IF subscribed IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM chat_webhook_touch(e.endpoint_id, n.conversation_id, min(n.seq))
  FROM new_rows n CROSS JOIN LATERAL jsonb_array_elements_text(subscribed -> n.type) AS e(endpoint_id)
  GROUP BY e.endpoint_id, n.conversation_id;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER messages_webhook_enqueue AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_webhook_messages();
--> statement-breakpoint
CREATE TRIGGER events_webhook_enqueue AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_webhook_events();
