/**
 * The one encoder of server frames. Every frame the service writes to a socket (acks,
 * errors, `ready`, stream events, signals) is built here from a member of the protocol's
 * `ServerFrame` union, so the compiler holds each one to the shape clients compile against.
 */
import type { ServerFrame } from '@chat/protocol';

export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
