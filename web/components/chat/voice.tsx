'use client';
/**
 * Voice messages: recorded in the browser with MediaRecorder (Opus at 32 kbit/s), sent as an
 * audio attachment, played inline with a scrubber. The service bounds their size
 * (MAX_VOICE_BYTES, about 4 minutes at this bit rate); the recorder stops itself sooner.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { CloseIcon, MicIcon, PauseIcon, PlayIcon, StopIcon } from './icons';

/** The recorder stops (and sends) at this length. */
export const MAX_VOICE_SECONDS = 120;
const BITS_PER_SECOND = 32_000;
/** Containers the service accepts, in order of preference (Chromium: WebM; Firefox: Ogg; Safari: MP4). */
const RECORDING_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'];

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '0:00';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function canRecord(): boolean {
  return typeof window !== 'undefined' && typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
}

export interface Recording {
  blob: Blob;
  /** Media type without parameters, as the service lists it. */
  contentType: string;
  seconds: number;
  filename: string;
}

/**
 * The recording bar that replaces the message box while recording: elapsed time, Cancel and
 * Stop (which hands the recording over). Escape cancels.
 */
export function VoiceRecorder({ onDone, onCancel, onError }: { onDone(recording: Recording): void; onCancel(): void; onError(message: string): void }) {
  const [elapsed, setElapsed] = useState(0);
  const recorder = useRef<MediaRecorder | null>(null);
  const cancelled = useRef(false);
  const stopButton = useRef<HTMLButtonElement>(null);
  const group = useRef<HTMLDivElement>(null);
  const handlers = useRef({ onDone, onCancel, onError });
  handlers.current = { onDone, onCancel, onError };

  useEffect(() => {
    let stream: MediaStream | null = null;
    let timer: ReturnType<typeof setInterval> | null = null;
    let gone = false;
    const started = Date.now();
    // The mic button that started this is gone: keep focus here (Escape cancels) until Stop is ready.
    group.current?.focus();
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch {
        handlers.current.onError('The microphone is not available (allow it in the browser to record).');
        return;
      }
      if (gone) {
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
      const mimeType = RECORDING_TYPES.find((t) => MediaRecorder.isTypeSupported(t));
      if (!mimeType) {
        stream.getTracks().forEach((t) => t.stop());
        handlers.current.onError('This browser cannot record voice messages.');
        return;
      }
      const chunks: Blob[] = [];
      const r = new MediaRecorder(stream, { mimeType, audioBitsPerSecond: BITS_PER_SECOND });
      recorder.current = r;
      r.ondataavailable = (e) => e.data.size > 0 && chunks.push(e.data);
      r.onstop = () => {
        stream?.getTracks().forEach((t) => t.stop());
        if (timer) clearInterval(timer);
        if (cancelled.current) return;
        const contentType = mimeType.split(';')[0]!;
        const blob = new Blob(chunks, { type: contentType });
        const seconds = Math.min((Date.now() - started) / 1000, MAX_VOICE_SECONDS);
        const extension = contentType === 'audio/mp4' ? 'm4a' : contentType.split('/')[1];
        handlers.current.onDone({ blob, contentType, seconds, filename: `Voice message.${extension}` });
      };
      r.start(1000);
      stopButton.current?.focus();
      timer = setInterval(() => {
        const s = (Date.now() - started) / 1000;
        setElapsed(s);
        if (s >= MAX_VOICE_SECONDS && r.state === 'recording') r.stop();
      }, 250);
    })();
    return () => {
      gone = true;
      if (timer) clearInterval(timer);
      const r = recorder.current;
      if (r && r.state !== 'inactive') {
        cancelled.current = true;
        r.stop();
      }
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, []);

  function stop() {
    const r = recorder.current;
    if (r && r.state === 'recording') r.stop();
  }

  function cancel() {
    cancelled.current = true;
    const r = recorder.current;
    if (r && r.state !== 'inactive') r.stop();
    onCancel();
  }

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === 'Escape') {
      // Cancels the recording; the panel stays open.
      event.preventDefault();
      event.stopPropagation();
      cancel();
    }
  }

  return (
    <div ref={group} className="recorder" role="group" aria-label="Recording a voice message" tabIndex={-1} onKeyDown={onKeyDown} data-testid="recorder">
      <button type="button" className="icon-button" onClick={cancel} aria-label="Cancel recording">
        <CloseIcon />
      </button>
      <span className="recorder-dot" aria-hidden="true" />
      <span className="recorder-time" role="timer" aria-live="off" data-testid="recorder-time">
        {formatDuration(elapsed)} / {formatDuration(MAX_VOICE_SECONDS)}
      </span>
      <button ref={stopButton} type="button" className="button composer-send" onClick={stop} aria-label="Stop and send voice message">
        <StopIcon /> Send
      </button>
    </div>
  );
}

export function MicButton({ onClick, disabled }: { onClick(): void; disabled?: boolean }) {
  return (
    <button type="button" className="icon-button composer-mic" onClick={onClick} disabled={disabled} aria-label="Record a voice message" title="Record a voice message">
      <MicIcon />
    </button>
  );
}

/** Duration of an audio file from its decoded samples (MediaRecorder's WebM says none in its header). */
async function decodedSeconds(blob: Blob): Promise<number | null> {
  try {
    const context = new OfflineAudioContext(1, 1, 48_000);
    const buffer = await context.decodeAudioData(await blob.arrayBuffer());
    return buffer.duration;
  } catch {
    return null;
  }
}

/** An inline player: play/pause, a scrubber (a slider, arrow keys seek) and the time. */
export function VoicePlayer({ load, label }: { load: () => Promise<Blob>; label: string }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [src, setSrc] = useState<string | null>(null);
  const [duration, setDuration] = useState<number | null>(null);
  const [position, setPosition] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    let url: string | null = null;
    load().then(
      async (blob) => {
        if (cancelled) return;
        url = URL.createObjectURL(blob);
        setSrc(url);
        const seconds = await decodedSeconds(blob);
        if (!cancelled && seconds !== null) setDuration(seconds);
      },
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : 'Download failed.'),
    );
    return () => {
      cancelled = true;
      if (url) URL.revokeObjectURL(url);
    };
  }, [load]);

  function toggle() {
    const el = audio.current;
    if (!el) return;
    if (el.paused) void el.play().catch(() => setError('Cannot play this recording.'));
    else el.pause();
  }

  const total = duration ?? 0;
  return (
    <div className="voice" data-testid="voice-player">
      <button type="button" className="icon-button voice-play" onClick={toggle} disabled={!src} aria-label={`${playing ? 'Pause' : 'Play'} ${label}`}>
        {playing ? <PauseIcon /> : <PlayIcon />}
      </button>
      <input
        type="range"
        className="voice-scrubber"
        min={0}
        max={Math.max(total, 0.1)}
        step={0.1}
        value={Math.min(position, total)}
        disabled={!src || !total}
        aria-label={`Position in ${label}`}
        aria-valuetext={`${formatDuration(position)} of ${formatDuration(total)}`}
        onChange={(e) => {
          const t = Number(e.target.value);
          setPosition(t);
          if (audio.current) audio.current.currentTime = t;
        }}
      />
      <span className="voice-time" data-testid="voice-duration">
        {playing || position > 0 ? formatDuration(position) : formatDuration(total)}
      </span>
      {error && <span className="error-text">{error}</span>}
      {src && (
        <audio
          ref={audio}
          src={src}
          preload="auto"
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => {
            setPlaying(false);
            setPosition(0);
          }}
          onTimeUpdate={(e) => setPosition(e.currentTarget.currentTime)}
        />
      )}
    </div>
  );
}

/** The text of a voice message: "🎤 Voice message (0:07)". */
export function voiceCaption(seconds: number): string {
  return `🎤 Voice message (${formatDuration(seconds)})`;
}

/** True for a body the recorder wrote (the bubble then shows the player alone). */
export function isVoiceCaption(body: string | null): boolean {
  return body !== null && /^🎤 Voice message \(\d+:\d{2}\)$/u.test(body);
}
