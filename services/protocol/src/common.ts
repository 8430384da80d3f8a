import { Type, type TSchema } from '@sinclair/typebox';
import { LIMITS } from './limits.ts';

export const Uuid = Type.String({
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  description: 'UUID',
});
/** PostgreSQL text cannot hold U+0000: stored strings refuse it at the boundary. */
export const NO_NUL = '^[^\\u0000]*$';
export const UserId = Type.String({ minLength: 1, maxLength: 255, pattern: NO_NUL, description: "The session token's sub" });
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const Timestamp = Type.String({ description: 'ISO 8601 date-time' });
export const RequestId = Type.String({ minLength: 1, maxLength: LIMITS.maxIdChars });
export const ClientMsgId = Type.String({ minLength: 1, maxLength: LIMITS.maxIdChars, pattern: NO_NUL });
/**
 * A message body as a frame or request carries it: plain text of at most `maxBodyChars`
 * (the service's MAX_BODY_CHARS, checked per conversation) or, in an encrypted conversation,
 * the sealed envelope's JSON of at most `maxEnvelopeChars` (docs/e2e.md).
 */
const BODY_MAX_CHARS = Math.max(LIMITS.maxBodyChars, LIMITS.maxEnvelopeChars);
export const Body = Type.String({ minLength: 1, maxLength: BODY_MAX_CHARS, pattern: NO_NUL });
/** A conversation title. */
export const Title = Type.String({ minLength: 1, maxLength: 200, pattern: NO_NUL });
/** A new message's text: may be empty only when the message carries attachments. */
export const SendBodyText = Type.String({ maxLength: BODY_MAX_CHARS, pattern: NO_NUL });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** One emoji (or short reaction token): no whitespace or control characters. */
export const Emoji = Type.String({ minLength: 1, maxLength: 32, pattern: '^[^\\s\\u0000-\\u001f\\u007f]+$' });
/** A base64url string (padding tolerated, as some browsers' toJSON() add it). */
export const Base64Url = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$', description });
