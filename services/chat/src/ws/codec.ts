/** Text frame → validated ClientFrame, or a typed error that names the request when it can. */
import { ClientFrame, type ClientFrameType } from '@chat/protocol';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { AppError } from '../errors.ts';

const checkers = new Map<string, TypeCheck<TSchema>>(
  ClientFrame.anyOf.map((schema) => [schema.properties.type.const as string, TypeCompiler.Compile(schema)]),
);

export type Decoded = { ok: true; frame: ClientFrame } | { ok: false; id: string | null; error: AppError };

export function decodeFrame(text: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: null, error: new AppError('INVALID_FRAME', 'The frame is not valid JSON.') };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: null, error: new AppError('INVALID_FRAME', 'A frame is a JSON object.') };
  }
  const record = value as Record<string, unknown>;
  const id = typeof record.id === 'string' && record.id.length > 0 && record.id.length <= 64 ? record.id : null;
  const checker = typeof record.type === 'string' ? checkers.get(record.type) : undefined;
  if (!checker) {
    return { ok: false, id, error: new AppError('INVALID_FRAME', 'Unknown frame type.', { allowed: [...checkers.keys()] }) };
  }
  if (!checker.Check(value)) {
    const details = [...checker.Errors(value)].slice(0, 5).map((e) => ({ path: e.path || '/', message: e.message }));
    return { ok: false, id, error: new AppError('VALIDATION_FAILED', `Invalid ${record.type} frame.`, details) };
  }
  return { ok: true, frame: value as ClientFrame };
}

export type FrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;
