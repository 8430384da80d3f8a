/** The attachments table: uploads (not yet sent), and the lookups a download needs. */
import { and, dsql, eq, schema, type Database } from '@chat/db';

const { attachments, conversations, messages } = schema;

export interface NewAttachment {
  id: string;
  conversationId: string;
  uploaderId: string;
  filename: string;
  contentType: string;
  size: number;
  storageKey: string;
}

export async function insertAttachment(db: Database, a: NewAttachment): Promise<void> {
  await db.insert(attachments).values({
    id: a.id,
    conversationId: a.conversationId,
    uploaderId: a.uploaderId,
    filename: a.filename,
    contentType: a.contentType,
    size: a.size,
    storageKey: a.storageKey,
  });
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

export async function findAttachment(db: Database, id: string): Promise<AttachmentForDownload | null> {
  const [row] = await db
    .select({
      id: attachments.id,
      conversation_id: attachments.conversationId,
      uploader_id: attachments.uploaderId,
      message_id: attachments.messageId,
      filename: attachments.filename,
      content_type: attachments.contentType,
      size: attachments.size,
      storage_key: attachments.storageKey,
      conversation_live: dsql<boolean>`${conversations.deletedAt} is null`,
      message_deleted: dsql<boolean>`(${attachments.messageId} is not null and (${messages.id} is null or ${messages.deletedAt} is not null))`,
    })
    .from(attachments)
    .innerJoin(conversations, eq(conversations.id, attachments.conversationId))
    .leftJoin(messages, eq(messages.id, attachments.messageId))
    .where(eq(attachments.id, id));
  return row ?? null;
}

/** Removes the row of an attachment whose message was deleted; returns its storage key if this call removed it. */
export async function deleteSentAttachment(db: Database, id: string, messageId: string): Promise<string | null> {
  const [row] = await db
    .delete(attachments)
    .where(and(eq(attachments.id, id), eq(attachments.messageId, messageId)))
    .returning({ storageKey: attachments.storageKey });
  return row?.storageKey ?? null;
}
