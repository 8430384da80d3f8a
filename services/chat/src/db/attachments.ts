/** The attachments table: uploads (not yet sent), and the lookups a download needs. */
import type { Sql } from 'postgres';

export interface NewAttachment {
  id: string;
  conversationId: string;
  uploaderId: string;
  filename: string;
  contentType: string;
  size: number;
  storageKey: string;
}

export async function insertAttachment(sql: Sql, a: NewAttachment): Promise<void> {
  await sql`
    insert into attachments (id, conversation_id, uploader_id, filename, content_type, size, storage_key)
    values (${a.id}, ${a.conversationId}, ${a.uploaderId}, ${a.filename}, ${a.contentType}, ${a.size}, ${a.storageKey})`;
}

/** An `attachments` row as the send path reads it. */
export interface AttachmentRow {
  id: string;
  conversation_id: string;
  uploader_id: string;
  message_id: string | null;
  filename: string;
  content_type: string;
  size: number;
}

export interface AttachmentForDownload extends AttachmentRow {
  storage_key: string;
  /** False when the conversation was deleted. */
  conversation_live: boolean;
  /** True when the message it was sent with is deleted (or gone). */
  message_deleted: boolean;
}

export async function findAttachment(sql: Sql, id: string): Promise<AttachmentForDownload | null> {
  const [row] = await sql<AttachmentForDownload[]>`
    select a.id, a.conversation_id, a.uploader_id, a.message_id, a.filename, a.content_type, a.size, a.storage_key,
           c.deleted_at is null as conversation_live,
           (a.message_id is not null and (m.id is null or m.deleted_at is not null)) as message_deleted
    from attachments a
    join conversations c on c.id = a.conversation_id
    left join messages m on m.id = a.message_id
    where a.id = ${id}`;
  return row ?? null;
}

/** Removes the row of an attachment whose message was deleted; returns its storage key if this call removed it. */
export async function deleteSentAttachment(sql: Sql, id: string, messageId: string): Promise<string | null> {
  const [row] = await sql<{ storage_key: string }[]>`
    delete from attachments where id = ${id} and message_id = ${messageId} returning storage_key`;
  return row?.storage_key ?? null;
}
