/**
 * Renders infra/nginx/nginx.conf for another environment: it rewrites only the lines
 * marked `render:` (listen address, upstream servers, worker user, access log, temp
 * paths) and fails loudly if a marker is missing, so the config and this script
 * cannot drift apart silently.
 *
 * Library: `renderNginxConfig(template, options)` (the infra tests use it).
 * CLI:
 *   tsx infra/nginx/render.ts --listen 8080 --chat 10.0.0.11:4000,10.0.0.12:4000 \
 *     --web 10.0.0.21:3000 --no-resolver [--user www-data | --no-user] [--access-log off] \
 *     > /etc/nginx/nginx.conf
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPLATE_PATH = fileURLToPath(new URL('./nginx.conf', import.meta.url));

/** Parameters every upstream server line gets (passive health checking). */
const SERVER_PARAMS = 'max_fails=1 fail_timeout=5s';

export interface RenderOptions {
  /** `listen` argument: a port (8080) or address:port (127.0.0.1:18080). */
  listen?: string | number;
  /** Chat instances as host:port. */
  chatServers?: string[];
  /** Storefront (Next.js) servers as host:port. */
  webServers?: string[];
  /** Worker user (`user` directive); null removes the directive (nginx started by a non-root user, or the build default). */
  user?: string | null;
  /** access_log target: a file path, or 'off'. */
  accessLog?: string;
  /** Folder for nginx's temporary files (request bodies, proxy buffers); by default the build's paths. */
  tempDir?: string;
  /**
   * DNS resolver for re-resolving upstream names (`server ... resolve`, nginx >= 1.27.3), or
   * null for none: the servers are then written without `resolve` (IP addresses, or names
   * resolved once at start).
   */
  resolver?: string | null;
}

export function renderNginxConfig(template: string, options: RenderOptions = {}): string {
  let out = template;
  if (options.listen !== undefined) {
    out = replaceLine(out, 'listen', (indent) => `${indent}listen ${options.listen};`);
  }
  if (options.user !== undefined) {
    out = replaceLine(out, 'user', (indent) => (options.user === null ? `${indent}# user: left to the build default` : `${indent}user ${options.user};`));
  }
  if (options.accessLog !== undefined) {
    out = replaceLine(out, 'access-log', (indent) => (options.accessLog === 'off' ? `${indent}access_log off;` : `${indent}access_log ${options.accessLog} chat;`));
  }
  if (options.tempDir !== undefined) {
    const dir = options.tempDir;
    out = replaceLine(out, 'temp-paths', (indent) =>
      ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
        .map((kind) => `${indent}${kind}_temp_path ${path.join(dir, kind)};`)
        .join('\n'),
    );
  }
  const resolve = options.resolver !== null;
  if (options.resolver !== undefined) {
    out = replaceLine(out, 'resolver', (indent) => (options.resolver === null ? `${indent}# resolver: none` : `${indent}resolver ${options.resolver} valid=10s ipv6=off;`));
  }
  if (options.chatServers !== undefined) out = replaceBlock(out, 'chat-servers', options.chatServers, resolve);
  if (options.webServers !== undefined) out = replaceBlock(out, 'web-servers', options.webServers, resolve);
  return out;
}

function checkServer(server: string): void {
  if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(server)) throw new Error(`upstream server must be host:port, got ${JSON.stringify(server)}`);
}

/** Replaces the one line carrying `# render:<name>` (with its comment) or `render:<name>` in a comment. */
function replaceLine(config: string, name: string, make: (indent: string) => string): string {
  const pattern = new RegExp(`^([ \\t]*)[^\\n]*#\\s*render:${name}\\b[^\\n]*$`, 'gm');
  const matches = config.match(pattern) ?? [];
  if (matches.length !== 1) throw new Error(`nginx.conf: expected exactly one line marked render:${name}, found ${matches.length}`);
  return config.replace(pattern, (_line, indent: string) => make(indent));
}

/** Replaces the lines between `# render:<name> begin` and `# render:<name> end` with `server` lines. */
function replaceBlock(config: string, name: string, servers: string[], resolve: boolean): string {
  if (servers.length === 0) throw new Error(`${name}: at least one server is required`);
  servers.forEach(checkServer);
  const pattern = new RegExp(`^([ \\t]*)# render:${name} begin\\n[\\s\\S]*?^[ \\t]*# render:${name} end$`, 'm');
  const match = pattern.exec(config);
  if (!match) throw new Error(`nginx.conf: block render:${name} begin/end not found`);
  const indent = match[1] ?? '';
  const lines = servers.map((server) => `${indent}server ${server}${resolve ? ' resolve' : ''} ${SERVER_PARAMS};`);
  return config.replace(pattern, [`${indent}# render:${name} begin`, ...lines, `${indent}# render:${name} end`].join('\n'));
}

function parseArgs(argv: string[]): RenderOptions {
  const options: RenderOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const list = () => value().split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--listen': options.listen = value(); break;
      case '--chat': options.chatServers = list(); break;
      case '--web': options.webServers = list(); break;
      case '--user': options.user = value(); break;
      case '--no-user': options.user = null; break;
      case '--access-log': options.accessLog = value(); break;
      case '--temp-dir': options.tempDir = value(); break;
      case '--resolver': options.resolver = value(); break;
      case '--no-resolver': options.resolver = null; break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(renderNginxConfig(readFileSync(TEMPLATE_PATH, 'utf8'), parseArgs(process.argv.slice(2))));
  } catch (error) {
    console.error(`render: ${(error as Error).message}`);
    process.exit(2);
  }
}
