/** One entry point for the three export kinds, used in the worker thread and inline (tests, bench). */
import { exportPeft, type PeftExportRequest, type PeftExportResult } from '../adapters/peft-export';
import { exportGguf, type GgufExportRequest, type GgufExportResult } from './gguf';
import type { JobContext } from './job';
import { exportMerged, type MergedExportRequest, type MergedExportResult } from './merged';

export type ExportJob = { kind: 'peft'; request: PeftExportRequest } | { kind: 'merged'; request: MergedExportRequest } | { kind: 'gguf'; request: GgufExportRequest };

export type ExportResult = PeftExportResult | MergedExportResult | GgufExportResult;

export function runExportJob(job: ExportJob, ctx: JobContext): Promise<ExportResult> {
  switch (job.kind) {
    case 'peft':
      return exportPeft(job.request, ctx);
    case 'merged':
      return exportMerged(job.request, ctx);
    case 'gguf':
      return exportGguf(job.request, ctx);
  }
}

/** The path the job writes (a folder, or the .gguf file). */
export function destinationOf(job: ExportJob): string {
  return job.kind === 'gguf' ? job.request.outFile : job.request.outDir;
}
