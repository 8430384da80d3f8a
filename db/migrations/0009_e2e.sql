CREATE TABLE "device_keys" (
	"user_id" text NOT NULL,
	"device_id" text NOT NULL,
	"identity_key" text NOT NULL,
	"encryption_key_id" integer NOT NULL,
	"bundle" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "device_keys_user_id_device_id_pk" PRIMARY KEY("user_id","device_id")
);
--> statement-breakpoint
DROP INDEX "conversations_direct_key_uq";--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "encrypted" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "device_keys" ADD CONSTRAINT "device_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_direct_key_uq" ON "conversations" USING btree ("direct_key","encrypted");--> statement-breakpoint
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_encrypted_ck" CHECK (not "conversations"."encrypted" or "conversations"."kind" = 'direct');