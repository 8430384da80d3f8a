/** Protocol-wide bounds; the service may lower (never raise) them through configuration. */
export const PROTOCOL_VERSION = 1;
export const LIMITS = {
  /** Largest text frame a client may send, in bytes. */
  maxFrameBytes: 64 * 1024,
  /** Longest message body, in characters. */
  maxBodyChars: 4000,
  /** Longest request id or client message id. */
  maxIdChars: 64,
  /** Conversations a resume frame may name. */
  maxResumeConversations: 1000,
  /** History page size: default and maximum. */
  defaultPageSize: 50,
  maxPageSize: 100,
  /** Attachments per message. */
  maxAttachments: 10,
  /** An encrypted conversation's message body: the sealed envelope's JSON (docs/e2e.md), in characters. */
  maxEnvelopeChars: 48 * 1024,
  /** Devices (key bundles) one user may publish to the key directory. */
  maxDevicesPerUser: 10,
  /** Members named when a group is created. */
  maxGroupMembers: 500,
} as const;
