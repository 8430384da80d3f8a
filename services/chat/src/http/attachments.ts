/**
 * /v1 attachments: upload raw bytes into a conversation, then download them.
 *
 * Upload: `POST /v1/conversations/:id/attachments?filename=…` with the file as the raw
 * body and its type as Content-Type. The row starts unsent (message_id null); a send
 * naming the id in `attachmentIds` attaches it under the conversation lock
 * (db/message-writes.ts), once.
 *
 * Download: `GET /v1/attachments/:id`, served so that a browser never runs it: nosniff,
 * a sandboxing CSP, inline only for raster images, everything else as an
 * application/octet-stream download.
 *
 * Every refusal of a download is FORBIDDEN, whether the id does not exist, belongs to a
 * conversation the caller cannot read, is someone else's unsent upload, or belongs to a
 * deleted message: ids are not secrets, but their existence should not be probeable.
 * Attachments of deleted messages are removed lazily, on the first download attempt
 * after the delete (row, then blob).
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AttachmentParams,
  ConversationParams,
  E2E_ATTACHMENT,
  ErrorResponse,
  MAX_ATTACHMENT_FILENAME_CHARS,
  UploadAttachmentQuery,
  UploadAttachmentResponse,
} from '@chat/protocol';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Config } from '../config.ts';
import { findAttachment, forgetSentAttachment, saveAttachment } from '../domain/reads.ts';
import type { Chat } from '../domain/chat.ts';
import { AppError } from '../errors.ts';
import { COST } from '../limits.ts';
import { LocalDiskStorage } from '../storage/local-disk.ts';
import type { BlobStorage } from '../storage/storage.ts';

export interface AttachmentOptions {
  chat: Chat;
  config: Pick<Config, 'maxAttachmentBytes' | 'maxVoiceBytes' | 'attachmentTypes' | 'attachmentsDir'>;
  /** Defaults to the local-disk driver rooted at config.attachmentsDir. */
  storage?: BlobStorage;
}

/** Served inline (with their own type); every other type is a download as application/octet-stream. */
export const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
  'cross-origin-resource-policy': 'same-site',
  'cache-control': 'private, max-age=3600',
};

const errors = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse,
  413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse,
};

export const attachmentRoutes: FastifyPluginAsyncTypebox<AttachmentOptions> = async (app, options) => {
  const { chat, config } = options;
  const storage = options.storage ?? new LocalDiskStorage(config.attachmentsDir);
  const allowed = new Set(config.attachmentTypes);
  /** Uploads into an encrypted conversation (decided before the body is read): ciphertext under E2E_ATTACHMENT's name and type only. */
  const sealed = new WeakSet<FastifyRequest>();

  // The caller is authenticated (and a cookie-authenticated upload's origin checked) by the
  // /v1 scope's preParsing hook (app.ts), before any body is read.

  // This scope parses only the allowed types, as raw bytes, up to the attachment limit.
  // Fastify answers 413 (PAYLOAD_TOO_LARGE) past the limit, from Content-Length or while reading.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    [...new Set([...config.attachmentTypes, E2E_ATTACHMENT.contentType])],
    { parseAs: 'buffer', bodyLimit: config.maxAttachmentBytes },
    (_request, body, done) => done(null, body),
  );
  // Anything else (including no Content-Type) is refused without reading the body.
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(new AppError('UNSUPPORTED_MEDIA_TYPE', `Attachments of type ${mediaType(request.headers['content-type']) ?? '(none)'} are not accepted.`, { allowed: [...allowed] }));
  });

  app.post(
    '/conversations/:id/attachments',
    {
      // Charged with authentication (app.ts), before the body is read.
      config: { cost: COST.send },
      schema: {
        summary: 'Upload an attachment',
        tags: ['attachments'],
        description: 'Uploads one file (raw body, Content-Type = its type) into the conversation; send its id in attachmentIds.',
        params: ConversationParams,
        querystring: UploadAttachmentQuery,
        response: { 201: UploadAttachmentResponse, ...errors },
      },
      // Membership before the body is read (params are validated only after parsing).
      preParsing: async (request, _reply, payload) => {
        const params = request.params as unknown;
        if (!Value.Check(ConversationParams, params)) throw new AppError('VALIDATION_FAILED', 'The conversation id is not a UUID.');
        if ((await chat.access(request.identity, params.id)).encrypted) {
          // The real name and type are inside the message's ciphertext, never sent to the server.
          const filename = (request.query as { filename?: unknown }).filename;
          if (filename !== E2E_ATTACHMENT.filename) {
            throw new AppError('VALIDATION_FAILED', `In an encrypted conversation an attachment is uploaded as ${E2E_ATTACHMENT.filename}.`, { filename: E2E_ATTACHMENT.filename });
          }
          if (mediaType(request.headers['content-type']) !== E2E_ATTACHMENT.contentType) {
            throw new AppError('UNSUPPORTED_MEDIA_TYPE', `In an encrypted conversation an attachment is ${E2E_ATTACHMENT.contentType} (ciphertext).`, { allowed: [E2E_ATTACHMENT.contentType] });
          }
          sealed.add(request);
        }
        return payload;
      },
    },
    async (request, reply) => {
      const contentType = mediaType(request.headers['content-type']);
      if (!contentType || !(sealed.has(request) ? contentType === E2E_ATTACHMENT.contentType : allowed.has(contentType))) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', undefined, { allowed: [...allowed] });
      }
      const body = request.body as unknown;
      if (!Buffer.isBuffer(body) || body.length === 0) throw new AppError('VALIDATION_FAILED', 'The attachment is empty.');
      if (body.length > config.maxAttachmentBytes) {
        throw new AppError('PAYLOAD_TOO_LARGE', `An attachment is at most ${config.maxAttachmentBytes} bytes.`);
      }
      if (contentType.startsWith('image/') && !hasImageSignature(contentType, body)) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The file is not a valid ${contentType} image.`);
      }
      if (contentType.startsWith('audio/')) {
        // A voice message: its length is bounded through its size (the recorder's bit rate is fixed).
        const maxVoice = Math.min(config.maxVoiceBytes, config.maxAttachmentBytes);
        if (body.length > maxVoice) throw new AppError('PAYLOAD_TOO_LARGE', `A voice message is at most ${maxVoice} bytes.`);
        if (!hasAudioSignature(contentType, body)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The file is not a valid ${contentType} recording.`);
      }
      const filename = sanitizeFilename(request.query.filename);
      const id = randomUUID();
      // Keys are ours (the id), never the filename. Blob first, then the row: a crash between
      // leaves an unreferenced blob, never a row without bytes.
      await storage.put(id, body);
      try {
        await saveAttachment(chat, {
          id,
          conversationId: request.params.id,
          uploaderId: request.identity.userId,
          filename,
          contentType,
          size: body.length,
          storageKey: id,
        });
      } catch (error) {
        await storage.delete(id).catch((e: unknown) => request.log.warn({ err: e, attachmentId: id }, 'orphan blob not removed'));
        throw error;
      }
      return reply.status(201).send({ id, filename, contentType, size: body.length });
    },
  );

  app.get(
    '/attachments/:id',
    {
      config: { cost: COST.read },
      schema: {
        summary: 'Download an attachment',
        tags: ['attachments'],
        description: 'The bytes of an attachment. Refusals, including unknown ids, are 403 FORBIDDEN.',
        params: AttachmentParams,
        // A stream: Fastify sends it as is, never through the serializer.
        response: { 200: Type.Unsafe<Readable>({ type: 'string', format: 'binary', description: 'The file bytes.' }), ...errors },
      },
    },
    async (request, reply) => {
      const { identity } = request;
      const row = await findAttachment(chat, request.params.id);
      if (!row || !row.conversation_live) throw new AppError('FORBIDDEN', 'You cannot read this attachment.');
      if (row.message_deleted) {
        // Lazy clean-up: the message is gone, so are its files (for everyone; nothing is revealed).
        const key = await forgetSentAttachment(chat, row.id, row.message_id!);
        if (key) await storage.delete(key).catch((e: unknown) => request.log.warn({ err: e, attachmentId: row.id }, 'blob not removed'));
        throw new AppError('FORBIDDEN', 'You cannot read this attachment.');
      }
      if (row.message_id === null) {
        // Not sent yet: a draft only its uploader sees.
        if (row.uploader_id !== identity.userId) throw new AppError('FORBIDDEN', 'You cannot read this attachment.');
      } else {
        await chat.access(identity, row.conversation_id); // FORBIDDEN unless a member (or a system role)
      }
      const stream = await storage.get(row.storage_key);
      if (!stream) {
        request.log.error({ attachmentId: row.id, storageKey: row.storage_key }, 'attachment blob missing');
        throw new AppError('NOT_FOUND', 'The attachment content is missing.');
      }
      const inline = INLINE_TYPES.has(row.content_type);
      return reply
        .headers({
          ...SECURITY_HEADERS,
          'content-type': inline ? row.content_type : 'application/octet-stream',
          'content-length': String(row.size),
          'content-disposition': contentDisposition(inline ? 'inline' : 'attachment', row.filename),
        })
        .send(stream);
    },
  );
};

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string | null {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type ? type : null;
}

const SIGNATURES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => ['GIF87a', 'GIF89a'].includes(b.subarray(0, 6).toString('latin1')),
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

/** The container signatures of the voice-message types: WebM (EBML, doctype webm), Ogg, MP4 (ftyp box). */
const AUDIO_SIGNATURES: Record<string, (b: Buffer) => boolean> = {
  'audio/webm': (b) => b.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])) && b.subarray(0, 64).includes('webm', 0, 'latin1'),
  'audio/ogg': (b) => b.subarray(0, 4).toString('latin1') === 'OggS',
  'audio/mp4': (b) => b.subarray(4, 8).toString('latin1') === 'ftyp',
};

/** True when the bytes start like the declared audio container (audio types without a known signature fail). */
export function hasAudioSignature(contentType: string, body: Buffer): boolean {
  return AUDIO_SIGNATURES[contentType]?.(body) ?? false;
}

/** True when the bytes start like the declared image type (image types without a known signature fail). */
export function hasImageSignature(contentType: string, body: Buffer): boolean {
  return SIGNATURES[contentType]?.(body) ?? false;
}

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// C0/C1 controls and DEL, plus bidi overrides and marks (used to disguise extensions).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A display name: no path separators or control characters, at most 200 characters, 'file' when nothing is left. */
export function sanitizeFilename(raw: string | undefined): string {
  const cleaned = (raw ?? '').replace(LONE_SURROGATES, '').normalize('NFC').replace(/[/\\]/g, '').replace(CONTROLS, '').trim();
  const name = Array.from(cleaned).slice(0, MAX_ATTACHMENT_FILENAME_CHARS).join('').trim();
  return name === '' || /^\.+$/.test(name) ? 'file' : name;
}

/** RFC 6266 with an ASCII fallback and the exact name as RFC 8187 UTF-8. */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
