/**
 * A look at a file before importing it: its container, the shape detected from the first record
 * (or why none could be), the keys found, and the first records as read and as they would be
 * stored. Reads only as far as the samples need.
 */
import { openReader, resolveSource } from './readers';
import { RowError, detectShape, hasRequiredKeys, normalise, type ShapeChoice } from './shapes';
import type { Container, Example, Mapping, Shape, SkippedLine, TextUnit } from './types';

export interface InspectRequest {
  path: string;
  container?: Container;
  shape?: Shape;
  mapping?: Mapping;
  textUnit?: TextUnit;
  jsonField?: string;
  samples: number;
}

export interface Inspection {
  path: string;
  kind: 'file' | 'folder';
  files: { file: string; container: Container; sizeBytes: number }[];
  ignored: string[];
  sizeBytes: number;
  container: Container;
  shape: Shape | null;
  mapping: Mapping;
  keys: string[];
  shapeError?: string;
  samples: { line: number; raw?: unknown; example?: Example; error?: string }[];
  sampleSkipped: SkippedLine[];
}

/** Lines read at most while looking for samples (a file of only bad lines must not be read whole). */
const MAX_LINES_LOOKED_AT = 10_000;

export async function inspectSource(req: InspectRequest): Promise<Inspection> {
  const source = resolveSource(req.path, req.container);
  const first = source.files[0];
  const textUnit: TextUnit = req.textUnit ?? (source.kind === 'folder' ? 'file' : 'block');
  const looksLikeRecord = (v: unknown) => {
    try {
      return hasRequiredKeys(v, detectShape(v, { shape: req.shape, mapping: req.mapping }));
    } catch {
      return false;
    }
  };
  const out: Inspection = {
    path: source.root,
    kind: source.kind,
    files: source.files.map((f) => ({ file: f.rel, container: f.container, sizeBytes: f.size })),
    ignored: source.ignored,
    sizeBytes: source.files.reduce((n, f) => n + f.size, 0),
    container: first.container,
    shape: null,
    mapping: {},
    keys: [],
    samples: [],
    sampleSkipped: [],
  };
  let choice: ShapeChoice | undefined = first.container === 'text' ? { shape: 'text', mapping: { text: 'text' } } : undefined;
  let seen = 0;
  const reader = await openReader(first, { textUnit, jsonField: req.jsonField, looksLikeRecord });
  try {
    outer: for await (const { records } of reader) {
      for (const rec of records) {
        if (++seen > MAX_LINES_LOOKED_AT || out.samples.length >= req.samples) break outer;
        if (rec.error !== undefined) {
          out.sampleSkipped.push({ line: rec.line, reason: rec.error });
          out.samples.push({ line: rec.line, error: rec.error });
          continue;
        }
        if (!choice && !out.shapeError) {
          if (rec.value && typeof rec.value === 'object' && !Array.isArray(rec.value)) out.keys = Object.keys(rec.value);
          try {
            choice = detectShape(rec.value, { shape: req.shape, mapping: req.mapping });
          } catch (err) {
            // An unknown shape, or a mapping naming a field the shape does not have.
            out.shapeError = (err as Error).message;
          }
        }
        if (!choice) {
          out.samples.push({ line: rec.line, raw: rec.value });
          continue;
        }
        try {
          out.samples.push({ line: rec.line, raw: rec.value, example: normalise(rec.value, choice) });
        } catch (err) {
          if (!(err instanceof RowError)) throw err;
          out.sampleSkipped.push({ line: rec.line, reason: err.message });
          out.samples.push({ line: rec.line, raw: rec.value, error: err.message });
        }
      }
    }
  } finally {
    await reader.return(undefined);
  }
  if (choice) {
    out.shape = choice.shape;
    out.mapping = choice.mapping;
  }
  if (first.container === 'text') out.keys = ['text'];
  return out;
}
