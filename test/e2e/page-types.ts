/**
 * Functions given to page.evaluate run in the browser, but this folder is type-checked as Node code
 * (no DOM lib). They reach the page's globals through this narrow, typed view:
 * `const { document } = globalThis as unknown as PageGlobals;` (the cast vanishes at compile time).
 */
export interface PageElement {
  getAttribute(name: string): string | null;
  dataset: Record<string, string | undefined>;
}

export interface PageGlobals {
  document: { documentElement: PageElement; body: PageElement; activeElement: PageElement | null };
  getComputedStyle(el: PageElement): { backgroundColor: string; outlineStyle: string };
  loraStudio?: { calls: Record<string, unknown>; on: unknown };
}
