-- A batch of message sends in one statement (services/chat/src/db/message-writes.ts).
-- Called as a single autocommit statement, a batch costs one round trip: lock the
-- counters, dedupe, check, allocate seqs, insert, claim attachments and NOTIFY, then
-- commit. The NOTIFY lines follow the payload format of services/chat/src/fanout/pg-bus.ts.

-- UTC with milliseconds, exactly as JavaScript's Date#toISOString().
CREATE FUNCTION chat_iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
--> statement-breakpoint

-- A message as the API's compact Message JSON, key for key the shape of toMessage() in
-- services/chat/src/db/rows.ts (a test compares the two).
CREATE FUNCTION chat_message_json(
  id uuid, conversation_id uuid, seq bigint, sender_id text, client_msg_id text, body text,
  reply_to_id uuid, attachments jsonb, created_at timestamptz, edited_at timestamptz,
  deleted_at timestamptz, reply_sender_id text, reply_preview text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '{"id":"' || id || '","conversationId":"' || conversation_id || '","seq":' || seq
    || ',"senderId":' || to_json(sender_id)::text
    || ',"clientMsgId":' || to_json(client_msg_id)::text
    || ',"body":' || coalesce(to_json(body)::text, 'null')
    || ',"replyToId":' || coalesce('"' || reply_to_id || '"', 'null')
    || ',"attachments":' || coalesce(attachments::text, '[]')
    || ',"createdAt":"' || chat_iso(created_at) || '"'
    || ',"editedAt":' || coalesce('"' || chat_iso(edited_at) || '"', 'null')
    || ',"deletedAt":' || coalesce('"' || chat_iso(deleted_at) || '"', 'null')
    || CASE
         WHEN reply_to_id IS NULL THEN ''
         WHEN reply_sender_id IS NULL THEN ',"replyTo":null'
         ELSE ',"replyTo":{"id":"' || reply_to_id || '","senderId":' || to_json(reply_sender_id)::text
           || ',"preview":' || coalesce(to_json(reply_preview)::text, 'null') || '}'
       END
    || '}'
$$;
--> statement-breakpoint

-- One row per input item, by its 1-based position `ord`:
--   created    message = the new message's JSON
--   duplicate  message = the stored message with the same (sender, clientMsgId)
--   repeat     the same (sender, clientMsgId) earlier in this batch: same outcome as that one
--              (detail = its ord)
--   FORBIDDEN | NOT_FOUND | BAD_REPLY | BAD_ATTACHMENT (detail = the attachment id)
CREATE FUNCTION chat_send_messages(
  p_ids uuid[], p_conversation_ids uuid[], p_sender_ids text[], p_client_msg_ids text[],
  p_bodies text[], p_reply_to_ids uuid[], p_attachment_ids text[], p_privileged boolean[],
  p_preview_chars int, p_channel text, p_max_payload_bytes int, p_max_inline_frame_bytes int
) RETURNS TABLE (ord int, outcome text, detail text, message text)
LANGUAGE plpgsql
-- Plan once: with custom plans every call would re-plan these statements (~1 ms). The
-- lookups are written as key probes, so the generic plans are the right ones.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_now timestamptz := now();
  v_live uuid[];        -- live conversations of the batch, locked, in id order
  v_next bigint[];      -- the next seq of each of them
  v_claimed uuid[] := '{}';
  r record;
  k int;
  -- the accepted messages
  a_ord int[] := '{}'; a_id uuid[] := '{}'; a_conversation uuid[] := '{}'; a_seq bigint[] := '{}';
  a_sender text[] := '{}'; a_client_msg_id text[] := '{}'; a_body text[] := '{}'; a_reply uuid[] := '{}';
  a_attachments jsonb[] := '{}'; a_reply_sender text[] := '{}'; a_reply_preview text[] := '{}';
  a_json text[] := '{}';
  v_line text; v_payload text := ''; v_bytes int := 0;
BEGIN
  -- 1. Lock the counters in id order (batches never deadlock). Every later statement takes
  --    a fresh snapshot, so it sees whatever committed before this lock was granted: a
  --    removal from the conversation, a retry of the same send on another instance.
  SELECT coalesce(array_agg(c.id ORDER BY c.id), '{}'), coalesce(array_agg(c.last_seq + 1 ORDER BY c.id), '{}')
    INTO v_live, v_next
    FROM (SELECT c.id, c.last_seq FROM conversations c
          WHERE c.id = ANY(p_conversation_ids) AND c.deleted_at IS NULL ORDER BY c.id FOR UPDATE) c;
  PERFORM 1 FROM attachments a
    WHERE a.id = ANY(string_to_array(nullif(array_to_string(p_attachment_ids, ','), ''), ',')::uuid[])
    ORDER BY a.id FOR UPDATE;

  -- 2. Decide each item in order, from what the database holds now. Every lookup is a
  --    LATERAL ... LIMIT 1 by primary or unique key: the cached plan stays an index probe
  --    per item however small the tables were when it was made.
  FOR r IN
    SELECT i.n::int AS n, i.id, i.conversation_id, i.sender_id, i.client_msg_id, i.body, i.reply_to_id, i.privileged, x.att,
           min(i.n) OVER (PARTITION BY i.sender_id, i.client_msg_id) AS first_n,
           s.json AS stored,
           mb.found IS NOT NULL AS member,
           array_position(v_live, i.conversation_id) AS live_at,
           par.conversation_id AS parent_conversation_id, par.sender_id AS parent_sender_id, par.preview AS parent_preview,
           att.bad AS bad_attachment, att.refs
    FROM unnest(p_ids, p_conversation_ids, p_sender_ids, p_client_msg_ids, p_bodies, p_reply_to_ids, p_attachment_ids, p_privileged)
           WITH ORDINALITY AS i(id, conversation_id, sender_id, client_msg_id, body, reply_to_id, attachment_ids, privileged, n)
    CROSS JOIN LATERAL (SELECT coalesce(string_to_array(nullif(i.attachment_ids, ''), ',')::uuid[], '{}') AS att) x
    LEFT JOIN LATERAL (
      SELECT chat_message_json(m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.reply_to_id,
               m.attachments, m.created_at, m.edited_at, m.deleted_at, p.sender_id, left(p.body, p_preview_chars)) AS json
      FROM messages m LEFT JOIN LATERAL (SELECT p.sender_id, p.body FROM messages p WHERE p.id = m.reply_to_id LIMIT 1) p ON true
      WHERE m.sender_id = i.sender_id AND m.client_msg_id = i.client_msg_id LIMIT 1) s ON true
    LEFT JOIN LATERAL (
      SELECT true AS found FROM members mb WHERE mb.conversation_id = i.conversation_id AND mb.user_id = i.sender_id LIMIT 1) mb ON true
    LEFT JOIN LATERAL (
      SELECT p.conversation_id, p.sender_id, left(p.body, p_preview_chars) AS preview
      FROM messages p WHERE p.id = i.reply_to_id LIMIT 1) par ON true
    CROSS JOIN LATERAL (
      SELECT (array_agg(u.id ORDER BY u.k) FILTER (
                WHERE a.id IS NULL OR a.uploader_id <> i.sender_id OR a.conversation_id <> i.conversation_id OR a.message_id IS NOT NULL))[1] AS bad,
             jsonb_agg(jsonb_build_object('id', a.id, 'filename', a.filename, 'contentType', a.content_type, 'size', a.size) ORDER BY u.k) AS refs
      FROM unnest(x.att) WITH ORDINALITY AS u(id, k)
      LEFT JOIN LATERAL (SELECT * FROM attachments a WHERE a.id = u.id LIMIT 1) a ON true) att
    ORDER BY i.n
  LOOP
    ord := r.n; detail := NULL; message := NULL;
    IF r.stored IS NOT NULL THEN
      outcome := 'duplicate'; message := r.stored;
    ELSIF r.first_n <> r.n THEN
      outcome := 'repeat'; detail := r.first_n;
    ELSIF NOT r.member AND NOT (r.privileged AND r.live_at IS NOT NULL) THEN
      outcome := 'FORBIDDEN';
    ELSIF r.live_at IS NULL THEN
      outcome := 'NOT_FOUND';
    ELSIF r.bad_attachment IS NOT NULL OR r.att && v_claimed THEN
      outcome := 'BAD_ATTACHMENT';
      detail := coalesce(r.bad_attachment, (SELECT u FROM unnest(r.att) u WHERE u = ANY(v_claimed) LIMIT 1));
    ELSIF r.reply_to_id IS NOT NULL AND r.parent_conversation_id IS DISTINCT FROM r.conversation_id THEN
      outcome := 'BAD_REPLY';
    ELSE
      k := r.live_at;
      a_ord := a_ord || r.n; a_id := a_id || r.id; a_conversation := a_conversation || r.conversation_id;
      a_seq := a_seq || v_next[k]; v_next[k] := v_next[k] + 1;
      a_sender := a_sender || r.sender_id; a_client_msg_id := a_client_msg_id || r.client_msg_id;
      a_body := a_body || r.body; a_reply := a_reply || r.reply_to_id; a_attachments := a_attachments || r.refs;
      a_reply_sender := a_reply_sender || r.parent_sender_id; a_reply_preview := a_reply_preview || r.parent_preview;
      v_claimed := v_claimed || r.att;
      CONTINUE;
    END IF;
    RETURN NEXT;
  END LOOP;

  IF cardinality(a_id) = 0 THEN RETURN; END IF;

  -- 3. Advance the counters, insert, claim the attachments.
  UPDATE conversations c SET last_seq = v_next[array_position(v_live, c.id)] - 1, last_activity_at = v_now
    WHERE c.id = ANY(a_conversation);
  INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, attachments, created_at)
    SELECT u.*, v_now FROM unnest(a_id, a_conversation, a_seq, a_sender, a_client_msg_id, a_body, a_reply, a_attachments) u;
  UPDATE attachments a SET message_id = m.id
    FROM unnest(a_id, a_attachments) m(id, refs), jsonb_array_elements(m.refs) ref
    WHERE m.refs IS NOT NULL AND a.id = (ref->>'id')::uuid;

  -- 4. Publish in commit order, packed into payloads under the limit; report.
  FOR j IN 1 .. cardinality(a_id) LOOP
    a_json[j] := chat_message_json(a_id[j], a_conversation[j], a_seq[j], a_sender[j], a_client_msg_id[j], a_body[j], a_reply[j],
                   a_attachments[j], v_now, NULL, NULL, a_reply_sender[j], a_reply_preview[j]);
    v_line := '{"type":"message.created","conversationId":"' || a_conversation[j] || '","seq":' || a_seq[j] || ',"message":' || a_json[j] || '}';
    v_line := a_conversation[j] || ' ' || a_seq[j] || ' ' || CASE WHEN octet_length(v_line) <= p_max_inline_frame_bytes THEN v_line ELSE '-' END;
    IF v_bytes > 0 AND v_bytes + 1 + octet_length(v_line) > p_max_payload_bytes THEN
      PERFORM pg_notify(p_channel, v_payload);
      v_payload := ''; v_bytes := 0;
    END IF;
    v_payload := CASE WHEN v_bytes = 0 THEN v_line ELSE v_payload || E'\n' || v_line END;
    v_bytes := v_bytes + (CASE WHEN v_bytes = 0 THEN 0 ELSE 1 END) + octet_length(v_line);
  END LOOP;
  PERFORM pg_notify(p_channel, v_payload);

  FOR j IN 1 .. cardinality(a_id) LOOP
    ord := a_ord[j]; outcome := 'created'; detail := NULL; message := a_json[j];
    RETURN NEXT;
  END LOOP;
END;
$$;
