CREATE TABLE "bus_outbox" (
	"conversation_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "bus_outbox_conversation_id_seq_pk" PRIMARY KEY("conversation_id","seq")
);
--> statement-breakpoint
CREATE TABLE "bus_outbox_signals" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"record" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Message sends are one SQL statement (chat_send_messages_v2), which publishes by NOTIFY
-- only. On the connections of instances running the NATS bus (`chat.bus_outbox = on`, set
-- at connect), this trigger writes the outbox rows of the messages it inserts, in the same
-- transaction; elsewhere it does nothing. Statement-level, over the transition table: one
-- insert per batch.
CREATE FUNCTION chat_bus_outbox_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('chat.bus_outbox', true) = 'on' THEN
    INSERT INTO bus_outbox (conversation_id, seq) SELECT n.conversation_id, n.seq FROM new_rows n;
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER messages_bus_outbox AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat_bus_outbox_messages();
