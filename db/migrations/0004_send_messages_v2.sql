-- chat_send_messages_v2 replaces chat_send_messages (0002). What changed, and why:
-- * Membership is checked before the (sender, clientMsgId) de-duplication: a removed member
--   re-sending an old clientMsgId gets FORBIDDEN, never the stored message's current data.
--   A clientMsgId already used in another conversation gets CONFLICT (not that message).
-- * Retryable failures (a concurrent insert of the same clientMsgId elsewhere: 23505; a
--   deadlock: 40P01) are retried inside this statement, under a savepoint. Batches are
--   pipelined on one connection and the server runs them one after another, so a retried
--   batch still commits before the next one: a sender's messages keep their order in the seq.
-- * The NOTIFY payload is the v2 bus format (services/chat/src/fanout/pg-bus.ts): a JSON
--   array of records, so no field (a user id, a body) can end a record or forge another.
--   It goes to the channel the caller names (`chat_events_v2`).
-- The old function stays for instances of the previous release during a rolling deploy
-- (docs/operations.md, "Changing the send function"); a later migration drops it.
--
-- One row per input item, by its 1-based position `ord`:
--   created    message = the new message's JSON
--   duplicate  message = the stored message with the same (sender, clientMsgId)
--   repeat     the same (sender, clientMsgId) earlier in this batch: same outcome as that one
--              (detail = its ord)
--   FORBIDDEN | NOT_FOUND | CONFLICT | BAD_REPLY | BAD_ATTACHMENT (detail = the attachment id)
CREATE FUNCTION chat_send_messages_v2(
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
  v_claimed uuid[];
  r record;
  k int;
  v_attempt int := 0;
  -- the outcomes, returned only once the writes committed to the statement
  o_ord int[]; o_outcome text[]; o_detail text[]; o_message text[];
  -- the accepted messages
  a_ord int[]; a_id uuid[]; a_conversation uuid[]; a_seq bigint[];
  a_sender text[]; a_client_msg_id text[]; a_body text[]; a_reply uuid[];
  a_attachments jsonb[]; a_reply_sender text[]; a_reply_preview text[];
  a_json text[];
  v_frame text; v_record text; v_payload text; v_bytes int;
BEGIN
  LOOP
    v_attempt := v_attempt + 1;
    o_ord := '{}'; o_outcome := '{}'; o_detail := '{}'; o_message := '{}';
    a_ord := '{}'; a_id := '{}'; a_conversation := '{}'; a_seq := '{}'; a_sender := '{}'; a_client_msg_id := '{}';
    a_body := '{}'; a_reply := '{}'; a_attachments := '{}'; a_reply_sender := '{}'; a_reply_preview := '{}'; a_json := '{}';
    v_claimed := '{}';
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
      --    LATERAL ... LIMIT 1 by primary or unique key: the cached plan stays an index probe.
      FOR r IN
        SELECT i.n::int AS n, i.id, i.conversation_id, i.sender_id, i.client_msg_id, i.body, i.reply_to_id, i.privileged, x.att,
               min(i.n) OVER (PARTITION BY i.sender_id, i.client_msg_id) AS first_n,
               s.json AS stored, s.conversation_id AS stored_conversation_id,
               mb.found IS NOT NULL AS member,
               array_position(v_live, i.conversation_id) AS live_at,
               par.conversation_id AS parent_conversation_id, par.sender_id AS parent_sender_id, par.preview AS parent_preview,
               att.bad AS bad_attachment, att.refs
        FROM unnest(p_ids, p_conversation_ids, p_sender_ids, p_client_msg_ids, p_bodies, p_reply_to_ids, p_attachment_ids, p_privileged)
               WITH ORDINALITY AS i(id, conversation_id, sender_id, client_msg_id, body, reply_to_id, attachment_ids, privileged, n)
        CROSS JOIN LATERAL (SELECT coalesce(string_to_array(nullif(i.attachment_ids, ''), ',')::uuid[], '{}') AS att) x
        LEFT JOIN LATERAL (
          SELECT m.conversation_id,
                 chat_message_json(m.id, m.conversation_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.reply_to_id,
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
        -- Who may write comes first: nothing stored is shown to a non-member.
        IF NOT r.member AND NOT (r.privileged AND r.live_at IS NOT NULL) THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'FORBIDDEN'::text; o_detail := o_detail || NULL::text; o_message := o_message || NULL::text;
        ELSIF r.live_at IS NULL THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'NOT_FOUND'::text; o_detail := o_detail || NULL::text; o_message := o_message || NULL::text;
        ELSIF r.stored IS NOT NULL AND r.stored_conversation_id <> r.conversation_id THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'CONFLICT'::text; o_detail := o_detail || NULL::text; o_message := o_message || NULL::text;
        ELSIF r.stored IS NOT NULL THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'duplicate'::text; o_detail := o_detail || NULL::text; o_message := o_message || r.stored;
        ELSIF r.first_n <> r.n THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'repeat'::text; o_detail := o_detail || r.first_n::text; o_message := o_message || NULL::text;
        ELSIF r.bad_attachment IS NOT NULL OR r.att && v_claimed THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'BAD_ATTACHMENT'::text; o_message := o_message || NULL::text;
          o_detail := o_detail || coalesce(r.bad_attachment, (SELECT u FROM unnest(r.att) u WHERE u = ANY(v_claimed) LIMIT 1))::text;
        ELSIF r.reply_to_id IS NOT NULL AND r.parent_conversation_id IS DISTINCT FROM r.conversation_id THEN
          o_ord := o_ord || r.n; o_outcome := o_outcome || 'BAD_REPLY'::text; o_detail := o_detail || NULL::text; o_message := o_message || NULL::text;
        ELSE
          k := r.live_at;
          a_ord := a_ord || r.n; a_id := a_id || r.id; a_conversation := a_conversation || r.conversation_id;
          a_seq := a_seq || v_next[k]; v_next[k] := v_next[k] + 1;
          a_sender := a_sender || r.sender_id; a_client_msg_id := a_client_msg_id || r.client_msg_id;
          a_body := a_body || r.body; a_reply := a_reply || r.reply_to_id; a_attachments := a_attachments || r.refs;
          a_reply_sender := a_reply_sender || r.parent_sender_id; a_reply_preview := a_reply_preview || r.parent_preview;
          v_claimed := v_claimed || r.att;
        END IF;
      END LOOP;

      IF cardinality(a_id) > 0 THEN
        -- 3. Advance the counters, insert, claim the attachments.
        UPDATE conversations c SET last_seq = v_next[array_position(v_live, c.id)] - 1, last_activity_at = v_now
          WHERE c.id = ANY(a_conversation);
        INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, body, reply_to_id, attachments, created_at)
          SELECT u.*, v_now FROM unnest(a_id, a_conversation, a_seq, a_sender, a_client_msg_id, a_body, a_reply, a_attachments) u;
        UPDATE attachments a SET message_id = m.id
          FROM unnest(a_id, a_attachments) m(id, refs), jsonb_array_elements(m.refs) ref
          WHERE m.refs IS NOT NULL AND a.id = (ref->>'id')::uuid;

        -- 4. Publish in commit order: records ["e", conversationId, seq, frame | null, null]
        --    packed into JSON-array payloads under the limit; a record whose frame would not
        --    fit inline carries null and the receiver reads the row.
        v_payload := ''; v_bytes := 0;
        FOR j IN 1 .. cardinality(a_id) LOOP
          a_json[j] := chat_message_json(a_id[j], a_conversation[j], a_seq[j], a_sender[j], a_client_msg_id[j], a_body[j], a_reply[j],
                         a_attachments[j], v_now, NULL, NULL, a_reply_sender[j], a_reply_preview[j]);
          v_frame := '{"type":"message.created","conversationId":"' || a_conversation[j] || '","seq":' || a_seq[j] || ',"message":' || a_json[j] || '}';
          v_record := json_build_array('e', a_conversation[j], a_seq[j], v_frame, NULL)::text;
          IF octet_length(v_record) > p_max_inline_frame_bytes THEN
            v_record := json_build_array('e', a_conversation[j], a_seq[j], NULL, NULL)::text;
          END IF;
          IF v_bytes > 0 AND v_bytes + 1 + octet_length(v_record) + 2 > p_max_payload_bytes THEN
            PERFORM pg_notify(p_channel, '[' || v_payload || ']');
            v_payload := ''; v_bytes := 0;
          END IF;
          v_payload := CASE WHEN v_bytes = 0 THEN v_record ELSE v_payload || ',' || v_record END;
          v_bytes := v_bytes + (CASE WHEN v_bytes = 0 THEN 0 ELSE 1 END) + octet_length(v_record);
        END LOOP;
        PERFORM pg_notify(p_channel, '[' || v_payload || ']');
      END IF;
      EXIT;
    EXCEPTION WHEN unique_violation OR deadlock_detected OR serialization_failure THEN
      -- Everything since BEGIN was rolled back (rows, locks, notifications); the next
      -- attempt reads what the other writer committed.
      IF v_attempt >= 4 THEN RAISE; END IF;
    END;
  END LOOP;

  FOR j IN 1 .. cardinality(o_ord) LOOP
    ord := o_ord[j]; outcome := o_outcome[j]; detail := o_detail[j]; message := o_message[j];
    RETURN NEXT;
  END LOOP;
  FOR j IN 1 .. cardinality(a_ord) LOOP
    ord := a_ord[j]; outcome := 'created'; detail := NULL; message := a_json[j];
    RETURN NEXT;
  END LOOP;
END;
$$;
