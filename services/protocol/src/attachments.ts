/**
 * Attachments over HTTP: upload the bytes first (raw body, its content type as
 * Content-Type), then name the returned id in a send's `attachmentIds`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Uuid } from './common.ts';
import { AttachmentRef } from './models.ts';

/** Longest filename kept; longer names are cut (after sanitising), not refused. */
export const MAX_ATTACHMENT_FILENAME_CHARS = 200;

/** POST /v1/conversations/:id/attachments?filename=… */
export const UploadAttachmentQuery = Type.Object({
  /** Display and download name; path separators and control characters are stripped. Default 'file'. */
  filename: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type UploadAttachmentQuery = Static<typeof UploadAttachmentQuery>;

/** 201 body of an upload: the reference a message will carry once sent. */
export const UploadAttachmentResponse = AttachmentRef;
export type UploadAttachmentResponse = Static<typeof UploadAttachmentResponse>;

/** GET /v1/attachments/:id */
export const AttachmentParams = Type.Object({ id: Uuid });
export type AttachmentParams = Static<typeof AttachmentParams>;
