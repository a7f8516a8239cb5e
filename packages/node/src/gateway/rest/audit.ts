/** `GET /api/v1/apps/{id}/audit`: the audit-log entries concerning the app, for its owner's admin key (ADR 0008). */
import { z } from 'zod';
import { AUDIT_PAGE_MAX, type AuditLog } from '../audit.js';
import { type AnyRoute, defineRoute } from './route.js';

const EntrySchema = z.object({
  seq: z.number().int(),
  at: z.number().int().describe('Milliseconds since the epoch'),
  actor: z.string().describe('The API key id, or the signer of a governance transaction'),
  scope: z.string().describe('regulator, admin or governance'),
  app: z.string(),
  action: z.string().describe('The route or JSON-RPC method'),
  detail: z.string().describe('JSON text: status, parameters, outcome'),
  prevHash: z.string().describe("The hash of the log's previous entry (not necessarily of this app)"),
  hash: z.string().describe('sha256 of the canonical entry with prevHash'),
});

/** The audit route over `audit`. */
export function auditRoutes(audit: AuditLog, anchor: () => { seq: number; hash: string } | undefined): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/apps/{id}/audit',
      summary: "Audit-log entries concerning the app (regulators' reads, admin actions, governance), with their hashes",
      tag: 'audit',
      scope: 'admin',
      query: z.object({
        after: z.coerce.number().int().min(0).default(0).describe('Entries with a seq above this'),
        limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(100).describe(`At most ${AUDIT_PAGE_MAX}`),
      }),
      response: z.object({
        app: z.string(),
        entries: z.array(EntrySchema),
        next: z.number().int().nullable().describe('Pass as after= for the next page; null at the end'),
        head: z.object({ seq: z.number().int(), hash: z.string() }).describe("The whole log's head"),
        anchor: z
          .object({ seq: z.number().int(), hash: z.string() })
          .nullable()
          .describe("This node's latest anchor on the system ledger"),
      }),
      handler: ({ ledger, query }) => {
        const entries = audit.entriesOf(ledger.id, query.after, query.limit);
        const last = entries[entries.length - 1];
        return {
          app: ledger.id,
          entries,
          next: entries.length === query.limit && last ? last.seq : null,
          head: audit.head(),
          anchor: anchor() ?? null,
        };
      },
    }),
  ];
}
