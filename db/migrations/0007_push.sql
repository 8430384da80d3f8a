CREATE TABLE "push_deliveries" (
	"subscription_id" uuid NOT NULL,
	"conversation_id" uuid NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "push_deliveries_subscription_id_conversation_id_pk" PRIMARY KEY("subscription_id","conversation_id")
);
--> statement-breakpoint
CREATE TABLE "push_settings" (
	"user_id" text PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"preview" text DEFAULT 'sender' NOT NULL,
	CONSTRAINT "push_settings_preview_ck" CHECK ("push_settings"."preview" in ('sender', 'message'))
);
--> statement-breakpoint
CREATE TABLE "push_subscriptions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"endpoint" text NOT NULL,
	"p256dh" text NOT NULL,
	"auth" text NOT NULL,
	"label" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_sent_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "push_deliveries" ADD CONSTRAINT "push_deliveries_subscription_id_push_subscriptions_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."push_subscriptions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "push_deliveries" ADD CONSTRAINT "push_deliveries_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "push_settings" ADD CONSTRAINT "push_settings_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "push_subscriptions" ADD CONSTRAINT "push_subscriptions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "push_subscriptions_endpoint_uq" ON "push_subscriptions" USING btree ("endpoint");--> statement-breakpoint
CREATE INDEX "push_subscriptions_user_idx" ON "push_subscriptions" USING btree ("user_id");--> statement-breakpoint
-- Web Push: a message committed for a member who is offline (no live presence row), has not
-- muted the conversation, has not turned push off and has a subscription gets a push job,
-- enqueued in the send's own transaction (so a job exists if and only if the message
-- committed). One job per (member, conversation): the job key collapses later messages into
-- the job already waiting, whose run time stays (preserve_run_at); the job reads what is
-- unread when it runs. Only connections that set `chat.push_delay_ms` (instances with push
-- configured, which install graphile-worker's schema before they listen) enqueue; elsewhere
-- this does nothing. Statement-level, over the transition table, like messages_bus_outbox.
CREATE FUNCTION chat_push_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  delay_ms text := current_setting('chat.push_delay_ms', true);
BEGIN
  IF delay_ms IS NULL OR delay_ms = '' THEN
    RETURN NULL;
  END IF;
  PERFORM graphile_worker.add_job(
    'push.notify',
    json_build_object('userId', t.user_id, 'conversationId', t.conversation_id),
    run_at => clock_timestamp() + make_interval(secs => delay_ms::numeric / 1000),
    max_attempts => 12,
    job_key => 'push:' || t.conversation_id || ':' || t.user_id,
    job_key_mode => 'preserve_run_at')
  FROM (
    SELECT DISTINCT m.conversation_id, m.user_id
    FROM new_rows n
    JOIN members m ON m.conversation_id = n.conversation_id AND m.user_id <> n.sender_id
    WHERE NOT m.muted
      AND EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)
      AND NOT EXISTS (SELECT 1 FROM push_settings ps WHERE ps.user_id = m.user_id AND NOT ps.enabled)
      AND NOT EXISTS (SELECT 1 FROM presence_sessions p WHERE p.user_id = m.user_id AND p.expires_at > now())
  ) t;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER messages_push_enqueue AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_push_enqueue();
