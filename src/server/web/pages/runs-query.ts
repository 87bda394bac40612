/**
 * The query of the Runs page is the query of GET /api/v1/runs (api/filters.ts parses both), so a filtered page's
 * URL can be shared and means what the API means. A plain HTML form cannot write it exactly, so the page first
 * rewrites what a form sends into that form and redirects there: empty fields dropped, each ticked status joined
 * into one `status=a,b`, and a date or a date and time without a zone (what people type) read as UTC.
 */

/** The filter parameters of the API (api/filters.ts), in the order a canonical URL lists them. */
export const FILTERS = ['log', 'host', 'user', 'actor', 'since', 'until', 'status', 'tool', 'sha256', 'path', 'q'] as const;
const PAGING = ['limit', 'cursor', 'order'] as const;

const DATE = /^(\d{4}-\d{2}-\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?$/;

/** A date (the whole day, in UTC) or a date and time without zone (UTC) as RFC 3339; anything else as given. */
function utc(v: string, bound: 'since' | 'until'): string {
  const d = DATE.exec(v);
  if (d) return `${d[1]}T${bound === 'since' ? '00:00:00Z' : '23:59:59.999999999Z'}`;
  const t = DATE_TIME.exec(v);
  if (t) return `${t[1]}T${t[2]}${t[3] ?? ':00'}Z`;
  return v;
}

/**
 * The API's spelling of a query a form sent: parameters it does not know are kept as they are (the parser refuses
 * them with its own message), empty values go, statuses join, zone-less times become UTC.
 */
export function canonicalQuery(search: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  const statuses: string[] = [];
  for (const [k, raw] of search) {
    const v = k === 'q' || k === 'path' ? raw : raw.trim();
    if (v === '') continue;
    if (k === 'status') statuses.push(...v.split(',').filter((s) => s !== ''));
    else out.append(k, k === 'since' || k === 'until' ? utc(v, k) : v);
  }
  if (statuses.length > 0) out.set('status', [...new Set(statuses)].join(','));
  const known: readonly string[] = [...FILTERS, ...PAGING];
  const rank = (k: string) => (known.includes(k) ? known.indexOf(k) : known.length);
  const sorted = [...out].sort((a, b) => rank(a[0]) - rank(b[0]));
  return new URLSearchParams(sorted);
}

/** Only the filters of a query (no paging): what an export or the live stream of the same page takes. */
export function filtersOf(search: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of search) if (!(PAGING as readonly string[]).includes(k)) out.append(k, v);
  return out;
}

export const hasFilter = (search: URLSearchParams): boolean => [...search.keys()].some((k) => (FILTERS as readonly string[]).includes(k));

export const withQuery = (path: string, q: URLSearchParams): string => {
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
};
