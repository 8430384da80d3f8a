ALTER TABLE "members" ADD COLUMN "joined_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Existing members who re-joined after leaving or being removed start at that re-join;
-- everyone else keeps the whole stream, as before this column existed.
UPDATE "members" m SET "joined_seq" = j.seq
FROM (
  SELECT a.conversation_id, a.data->'member'->>'userId' AS user_id, max(a.seq) AS seq
  FROM "events" a
  WHERE a.type = 'member.added'
    AND EXISTS (SELECT 1 FROM "events" r WHERE r.conversation_id = a.conversation_id AND r.type = 'member.removed'
                AND r.data->>'userId' = a.data->'member'->>'userId' AND r.seq < a.seq)
  GROUP BY 1, 2
) j
WHERE m.conversation_id = j.conversation_id AND m.user_id = j.user_id;
