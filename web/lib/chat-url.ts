/** The chat service's base URL (HTTP); the WebSocket is the same host under /ws. Inlined at build time. */
export const CHAT_URL = (process.env.NEXT_PUBLIC_CHAT_URL || 'http://127.0.0.1:4000').replace(/\/+$/, '');

export const CHAT_WS_URL = `${CHAT_URL.replace(/^http/, 'ws')}/ws`;
