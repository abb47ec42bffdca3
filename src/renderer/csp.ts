/**
 * The renderer's Content-Security-Policy, one source for every place that applies it: the <meta> tag
 * written into index.html at build time (the desktop window loads it from file://, where no response
 * header exists) and the response header the desktop shell adds for http(s) loads (the dev server).
 * The web shell's server sends its own header on top; a page obeys both.
 *
 * Built pages load nothing but their own files: no inline script, no eval, no inline <style>, no
 * remote origin. 'self' also admits the web shell's same-origin WebSocket (CSP level 3).
 */
import type { Plugin } from 'vite';

export const RENDERER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Vite's dev server injects styles as <style> elements and talks HMR over its own WebSocket. */
export const DEV_RENDERER_CSP = RENDERER_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
  "connect-src 'self'",
  "connect-src 'self' ws://localhost:* ws://127.0.0.1:*",
);

/** Writes the policy into index.html as the first element of <head>. */
export function cspMetaPlugin(): Plugin {
  let policy = RENDERER_CSP;
  return {
    name: 'lora-studio:csp-meta',
    configResolved(config) {
      policy = config.command === 'serve' ? DEV_RENDERER_CSP : RENDERER_CSP;
    },
    transformIndexHtml: {
      order: 'pre',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' }],
    },
  };
}
