CREATE TABLE "presence_sessions" (
	"instance_id" text NOT NULL,
	"user_id" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "presence_sessions_instance_id_user_id_pk" PRIMARY KEY("instance_id","user_id")
);
--> statement-breakpoint
CREATE INDEX "presence_sessions_user_idx" ON "presence_sessions" USING btree ("user_id","expires_at");--> statement-breakpoint
CREATE INDEX "events_membership_idx" ON "events" USING btree ("created_at") WHERE "events"."type" in ('member.added', 'member.removed', 'conversation.deleted');