/**
 * Long operations (a deployment: compile, send, wait for the block) run as jobs whose progress
 * the browser polls, so a slow block never holds a request open and the page can show each step.
 */
import { randomUUID } from 'node:crypto';

/** A job's state as the browser sees it. */
export type Job<T = unknown> = {
  id: string;
  owner: string;
  step: string;
  steps: string[];
  status: 'running' | 'done' | 'failed';
  result?: T;
  error?: { code: string; message: string; hint?: string; details?: unknown };
  startedAt: number;
  endedAt?: number;
};

/** Jobs kept at most; the oldest finished ones go first. */
export const JOBS_MAX = 1_000;
/** Finished jobs are kept this long for the browser to read their result. */
export const JOB_KEEP_MS = 3_600_000;

/** A bounded in-memory table of jobs. */
export class Jobs {
  private readonly jobs = new Map<string, Job>();

  /** Starts `run`, which reports its steps through `step`; returns the job at once. */
  start<T>(
    owner: string,
    steps: string[],
    run: (step: (name: string) => void) => Promise<T>,
    toError: (err: unknown) => Job['error'],
  ): Job<T> {
    this.prune();
    if (this.jobs.size >= JOBS_MAX) {
      throw Object.assign(new Error(`the portal is running ${JOBS_MAX} operations already`), {
        statusCode: 503,
        code: 'BUSY',
        hint: 'Try again in a minute',
      });
    }
    const job: Job<T> = { id: randomUUID(), owner, step: steps[0] ?? '', steps, status: 'running', startedAt: Date.now() };
    this.jobs.set(job.id, job);
    run((name) => {
      job.step = name;
    }).then(
      (result) => {
        job.status = 'done';
        job.result = result;
        job.endedAt = Date.now();
      },
      (err: unknown) => {
        job.status = 'failed';
        job.error = toError(err);
        job.endedAt = Date.now();
      },
    );
    return job;
  }

  /** The job, if `owner` started it. */
  get(id: string, owner: string): Job | undefined {
    const job = this.jobs.get(id);
    return job && job.owner === owner ? job : undefined;
  }

  /** How many jobs are kept. */
  get size(): number {
    return this.jobs.size;
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, job] of this.jobs) {
      if (job.endedAt !== undefined && (now - job.endedAt > JOB_KEEP_MS || this.jobs.size >= JOBS_MAX)) this.jobs.delete(id);
    }
  }
}
