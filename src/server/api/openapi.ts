/**
 * The OpenAPI 3.1 document of the read API, served at GET /api/v1/openapi.json. It is the API's contract: the tests
 * validate every response they receive (status, content type, body) against the schema given here for that route
 * and status (testing/openapi-check.ts), and check that the routes registered in the app and the paths listed here
 * are the same set. Each operation names the least role that may call it in `x-role` (viewer < auditor < admin).
 *
 * The run and note shapes are those of `ffaudit log --json` (docs/runs.md, a contract), plus `log`.
 */
import { MIGRATIONS } from '../db/migrations.js';
import { CSV_COLUMNS } from './export.js';
import { DEFAULT_LIMIT, MAX_BUNDLE_FILES, MAX_LIMIT } from './filters.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = { [k: string]: Json };

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra });
const SHA256: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const DATE_TIME: Schema = { type: 'string', format: 'date-time' };
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), additional = true): Schema => ({
  type: 'object',
  properties,
  required,
  ...(additional ? {} : { additionalProperties: false }),
});

const TOKEN_PROPERTIES: Record<string, Schema> = {
  id: { type: 'integer', minimum: 1 },
  name: { type: 'string' },
  role: { enum: ['viewer', 'auditor', 'admin'] },
  created_at: DATE_TIME,
  last_used_at: { type: ['string', 'null'], format: 'date-time', description: 'written at most once a minute' },
  revoked_at: { type: ['string', 'null'], format: 'date-time' },
};

const schemas: Record<string, Schema> = {
  File: {
    ...obj({ path: { type: 'string' }, size: nullable('integer', { minimum: 0 }), sha256: { type: ['string', 'null'], pattern: '^[0-9a-f]{64}$' } }),
    description: 'A file as a run or note recorded it (docs/runs.md): path, size and SHA-256 (null when not hashed). Inputs may carry more fields (changed_during_run, path_b64, error, produced_by).',
  },
  Stream: obj({ direction: { enum: ['input', 'output'] }, file: { type: 'integer' }, stream: { type: 'integer' }, type: { type: 'string' }, codec: nullable('string') }),
  Run: {
    description: '`ffaudit log --json` run record (docs/runs.md) plus `log`, the origin of the log that holds it. Readers must ignore fields they do not know.',
    ...obj({
      id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
      tool: { enum: ['ffmpeg', 'ffprobe'] },
      entries: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1, maxItems: 2 },
      status: { enum: ['ok', 'failed', 'incomplete', 'terminated'] },
      user: { type: 'string' },
      uid: nullable('integer'),
      host: { type: 'string' },
      asserted_actor: nullable('string'),
      reason: nullable('string'),
      cwd: { type: 'string' },
      argv: { type: 'array', items: { type: 'string' } },
      started_at: DATE_TIME,
      ended_at: { type: ['string', 'null'], format: 'date-time' },
      duration_ms: nullable('number'),
      exit_code: nullable('integer'),
      signal: nullable('string'),
      inputs: { type: 'array', items: ref('File') },
      outputs: { type: 'array', items: ref('File') },
      streams: { type: 'array', items: ref('Stream') },
      ffmpeg: obj({ path: { type: 'string' }, version: nullable('string'), sha256: { type: ['string', 'null'], pattern: '^[0-9a-f]{64}$' } }),
      report_sha256: { type: ['string', 'null'], pattern: '^[0-9a-f]{64}$' },
      log: { type: 'string', description: 'the origin of the log that holds the run' },
    }),
  },
  Note: {
    description: 'A custody note as `ffaudit log --json` prints it (`type` first) plus `log`.',
    ...obj({
      type: { const: 'custody.note' },
      index: { type: 'integer', minimum: 0 },
      time: DATE_TIME,
      user: { type: 'string' },
      uid: nullable('integer'),
      host: { type: 'string' },
      asserted_actor: nullable('string'),
      text: { type: 'string' },
      files: { type: 'array', items: ref('File') },
      log: { type: 'string' },
    }),
  },
  Unreadable: {
    description: 'An index hit whose entries could not be read back as recorded: reported, never returned as a run or note.',
    ...obj({ log: { type: 'string' }, index: { type: 'integer', minimum: 0 }, id: nullable('string'), error: { type: 'string' } }, ['log', 'index', 'id', 'error'], false),
  },
  RunPage: obj(
    {
      items: { type: 'array', items: ref('Run'), maxItems: MAX_LIMIT },
      next: { type: ['string', 'null'], description: 'give it as `cursor` for the next page; null on the last page' },
      total: { type: ['integer', 'null'], minimum: 0, description: 'the number of matches, exact up to 10,000, else null' },
      unreadable: { type: 'array', items: ref('Unreadable') },
    },
    undefined,
    false,
  ),
  NotePage: obj(
    {
      items: { type: 'array', items: ref('Note'), maxItems: MAX_LIMIT },
      next: { type: ['string', 'null'] },
      total: { type: ['integer', 'null'], minimum: 0 },
      unreadable: { type: 'array', items: ref('Unreadable') },
    },
    undefined,
    false,
  ),
  Author: obj({ user: { type: 'string' }, uid: nullable('integer'), host: { type: 'string' }, asserted_actor: { type: 'string' } }, ['user', 'uid', 'host']),
  LineageRun: { description: 'A run of the lineage; `log` only when it is in another log than the lineage\'s own.', allOf: [ref('RunFields')] },
  RunFields: {
    type: 'object',
    required: ['id', 'tool', 'entries', 'status', 'user', 'host', 'started_at', 'inputs', 'outputs'],
    properties: { id: { type: 'string' }, entries: { type: 'array', items: { type: 'integer' } }, inputs: { type: 'array', items: ref('File') }, outputs: { type: 'array', items: ref('File') }, log: { type: 'string' } },
  },
  TraceNote: obj(
    { index: { type: 'integer', minimum: 0 }, time: DATE_TIME, by: ref('Author'), text: { type: 'string' }, files: { type: 'array', items: ref('File') }, log: { type: 'string' } },
    ['index', 'time', 'by', 'text', 'files'],
  ),
  Lineage: {
    description: 'The `ffaudit trace --json` object: `log` is the log the file was traced in; runs and notes of other logs carry their own `log`.',
    ...obj({
      file: obj({ path: { type: 'string' }, sha256: SHA256 }),
      known: { type: 'boolean', description: 'false when no run produced or read these bytes and no custody note names them' },
      runs: { type: 'array', items: ref('LineageRun') },
      sources: { type: 'array', items: { allOf: [ref('File')], properties: { basis: { enum: ['signed', 'index-checked', 'unproven', null] } }, required: ['basis'] } },
      index_checked: { type: 'boolean' },
      notes: { type: 'array', items: ref('TraceNote') },
      read_by: { type: 'array', items: ref('LineageRun') },
      log: { type: 'string' },
    }),
  },
  LogState: obj({
    host: { type: 'string' },
    origin: { type: 'string' },
    status: { enum: ['active', 'disabled'] },
    epoch: { type: 'integer', minimum: 0 },
    size: { type: 'integer', minimum: 0 },
    cosigned: { oneOf: [{ type: 'null' }, obj({ size: { type: 'integer', minimum: 0 }, at: DATE_TIME })] },
    lastPushAt: { type: ['string', 'null'], format: 'date-time' },
    silent: { type: 'boolean', description: 'the host has not pushed for longer than `serve --silent-after`' },
    lag: { type: 'integer', minimum: 0, description: 'entries the witness cosigned that the mirror does not hold yet' },
    conflicts: obj({ equivocation: { type: 'integer', minimum: 0 }, unproven: { type: 'integer', minimum: 0 }, contradicted: { type: 'integer', minimum: 0 } }),
    lastCheck: {
      oneOf: [{ type: 'null' }, obj({ at: DATE_TIME, size: { type: 'integer', minimum: 0 }, ok: { type: 'boolean' }, problems: { type: 'array', items: { type: 'string' } } })],
    },
  }),
  LogStates: obj({ items: { type: 'array', items: ref('LogState') } }, undefined, false),
  Verification: obj({ host: { type: 'string' }, ok: { type: 'boolean' }, size: { type: 'integer', minimum: 0 }, problems: { type: 'array', items: { type: 'string' } } }, undefined, false),
  Host: obj({
    id: { type: 'integer' },
    name: { type: 'string' },
    status: { enum: ['pending', 'active', 'disabled'] },
    origin: nullable('string'),
    vkey: nullable('string'),
    epoch: { type: 'integer', minimum: 0 },
    hold: nullable('string'),
    witness_size: nullable('integer'),
    mirror_size: nullable('integer'),
    conflicts: { type: 'integer', minimum: 0 },
  }),
  Hosts: obj({ items: { type: 'array', items: ref('Host') } }, undefined, false),
  Token: obj(TOKEN_PROPERTIES, undefined, false),
  Tokens: obj({ items: { type: 'array', items: ref('Token') } }, undefined, false),
  NewToken: {
    description: 'A token just made: the only answer that ever carries the token itself.',
    ...obj({ ...TOKEN_PROPERTIES, token: { type: 'string', pattern: '^ffaudit-api-[A-Za-z0-9_-]{43}$' } }, undefined, false),
  },
  TokenRequest: obj({ name: { type: 'string', minLength: 1, maxLength: 100 }, role: { enum: ['viewer', 'auditor', 'admin'] } }, undefined, false),
  Bundle: {
    description: 'An evidence bundle exactly as `ffaudit bundle` writes it (docs/provenance.md); check it offline with `ffaudit verify-bundle`.',
    type: 'object',
    required: ['format'],
    properties: { format: { type: 'string', pattern: '^ffaudit-bundle/' } },
  },
  Health: obj({ ok: { type: 'boolean' }, schema: { type: ['integer', 'null'] }, reason: { type: 'string' } }, ['ok', 'schema'], false),
  Error: { type: 'string', description: 'One line of text and a newline: why. Never a stack trace; a 5xx never carries internals.', pattern: '^[^\\n]*\\n$' },
};

const param = (name: string, description: string, schema: Schema, extra: Schema = {}): Schema => ({ name, in: 'query', description, schema, ...extra });
const parameters: Record<string, Schema> = {
  log: param('log', 'only runs/notes of the log with this origin (repeatable)', { type: 'string', maxLength: 1024 }, { explode: true }),
  host: param('host', 'only logs of this host, by the server\'s host name (repeatable)', { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' }),
  user: param('user', 'the operating-system user who ran it', { type: 'string', maxLength: 256 }),
  actor: param('actor', 'the asserted actor (--actor, FFAUDIT_ACTOR)', { type: 'string', maxLength: 256 }),
  since: param('since', "inclusive lower bound on a run's start (a note's time): RFC 3339 date-time only", DATE_TIME),
  until: param('until', 'inclusive upper bound: RFC 3339 date-time only', DATE_TIME),
  status: param('status', 'comma-separated list of ok, failed, incomplete, terminated (runs only)', { type: 'string', pattern: '^(ok|failed|incomplete|terminated)(,(ok|failed|incomplete|terminated))*$' }),
  tool: param('tool', 'runs only', { enum: ['ffmpeg', 'ffprobe'] }),
  sha256: param('sha256', 'a file read or written (a note: named) with this content', { type: 'string', pattern: '^[0-9a-fA-F]{64}$' }),
  path: param('path', 'a file path starting with this prefix, as recorded', { type: 'string', maxLength: 4096 }),
  q: param('q', 'case-insensitive text in the (redacted) command line, cwd, reason, actor or file paths; a note\'s text', { type: 'string', maxLength: 200 }),
  limit: param('limit', 'page size', { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT }),
  cursor: param('cursor', 'a previous page\'s `next`, as it was given', { type: 'string', maxLength: 512 }),
  order: param('order', 'newest first (desc) or oldest first (asc)', { enum: ['desc', 'asc'], default: 'desc' }),
};
const pref = (name: string): Schema => ({ $ref: `#/components/parameters/${name}` });
const FILTERS = ['log', 'host', 'user', 'actor', 'since', 'until', 'sha256', 'path', 'q'].map(pref);
const PAGING = ['limit', 'cursor', 'order'].map(pref);

const text = (description: string): Schema => ({ description, content: { 'text/plain': { schema: ref('Error') } } });
const json = (description: string, schema: Schema, headers?: Schema): Schema => ({ description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) });
const ERRORS = {
  '400': text('a bad parameter or body: the line says which and why (unknown parameters are refused too)'),
  '401': {
    ...text('no token, another scheme than Bearer, or a malformed, unknown or revoked token (the answer does not say which)'),
    headers: { 'WWW-Authenticate': { schema: { const: 'Bearer realm="ffaudit"' } } },
  },
  '403': text("the token's role is below the operation's x-role"),
  '503': text('the database is away, a query took longer than its statement timeout (try again, or narrow the filter), or the access log could not record the request (nothing is answered unrecorded)'),
};
const NOT_FOUND = { '404': text('not found: the line says what') };

function op(role: 'viewer' | 'auditor' | 'admin', summary: string, responses: Record<string, Schema>, params: Schema[] = [], extra: Schema = {}): Schema {
  return {
    summary,
    description: `${summary}. Least role: ${role}.`,
    'x-role': role,
    security: [{ bearerAuth: [] }],
    parameters: params,
    // No token is below viewer: a viewer's route never answers 403.
    responses: { ...responses, ...(role === 'viewer' ? (({ '403': _, ...rest }) => rest)(ERRORS) : ERRORS) },
    ...extra,
  };
}

const fileParams: Schema[] = [
  { name: 'sha256', in: 'query', required: true, description: 'the content, SHA-256 hex', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } },
  { name: 'path', in: 'query', description: 'the name to give the file (a label; default the hash)', schema: { type: 'string', maxLength: 4096 } },
];

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'ffaudit team server read API',
    version: '1',
    description:
      'Search, lineage and evidence across every log the server mirrors. Every run and note is rebuilt from the mirrored entry bytes and checked against its leaf hash; the indexes only say where to look. ' +
      'Authentication: `Authorization: Bearer ffaudit-api-…` only (no cookie, no query-string token), tokens made with `ffaudit serve tokens add --role R --name N`. ' +
      "Roles, each including the ones before it: viewer (runs, notes, lineage, logs), auditor (bundles, reports, exports, re-verification), admin (hosts, tokens); each operation's least role is its `x-role`. " +
      'Errors are one line of text/plain. Unknown query parameters are refused (400).',
  },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'ffaudit-api-<base64url of 32 bytes>' } },
    schemas,
    parameters,
  },
  paths: {
    '/healthz': {
      get: {
        summary: 'liveness and readiness for load balancers: the database answers and its schema is the one this server knows',
        security: [],
        parameters: [],
        responses: {
          '200': json('ready', { allOf: [ref('Health')], properties: { ok: { const: true }, schema: { const: MIGRATIONS[MIGRATIONS.length - 1]!.version } } }),
          '503': json('not ready: the database is away or its schema is not the one this server knows', { allOf: [ref('Health')], properties: { ok: { const: false } }, required: ['reason'] }),
        },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        summary: 'this document',
        security: [],
        parameters: [],
        responses: { '200': json('the OpenAPI 3.1 document', { type: 'object', required: ['openapi', 'paths'] }), '400': ERRORS['400'] },
      },
    },
    '/api/v1/runs': {
      get: op('viewer', 'runs across every log, newest first by default, a page at a time', { '200': json('a page of runs', ref('RunPage')) }, [...FILTERS, pref('status'), pref('tool'), ...PAGING]),
    },
    '/api/v1/runs/{ref}': {
      get: op(
        'viewer',
        'one run by id or id prefix (at least 6 hex digits)',
        { '200': json('the run', ref('Run')), ...NOT_FOUND },
        [
          { name: 'ref', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-fA-F]{6,32}$' } },
          { name: 'log', in: 'query', description: 'look in this log only (an id prefix may be ambiguous across logs: 400)', schema: { type: 'string', maxLength: 1024 } },
        ],
      ),
    },
    '/api/v1/notes': {
      get: op('viewer', 'custody notes across every log', { '200': json('a page of custody notes', ref('NotePage')) }, [...FILTERS, ...PAGING]),
    },
    '/api/v1/lineage': {
      get: op('viewer', "a file's lineage by content across every log (as `ffaudit trace --json`); known is false for bytes no log knows", { '200': json('the lineage', ref('Lineage')) }, fileParams),
    },
    '/api/v1/logs': {
      get: op('viewer', 'the state of every mirrored log: size, cosigned checkpoint, last push, silence, lag, conflicts, last re-verification', { '200': json('one item per log', ref('LogStates')) }),
    },
    '/api/v1/bundle': {
      get: op(
        'auditor',
        'one evidence bundle for the lineages of the files named (each entry with its own log\'s proof and checkpoint)',
        { '200': json('the bundle, byte for byte as `ffaudit bundle` writes it', ref('Bundle')), ...NOT_FOUND, '422': text('the mirrored evidence does not verify') },
        [
          { name: 'sha256', in: 'query', required: true, description: `once per file, at most ${MAX_BUNDLE_FILES}`, schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' }, explode: true },
          { name: 'path', in: 'query', description: 'none, or one per sha256 in the same order: the names the bundle gives the files', schema: { type: 'string', maxLength: 4096 }, explode: true },
          { name: 'with_reports', in: 'query', schema: { enum: ['true', 'false'], default: 'false' } },
        ],
      ),
    },
    '/api/v1/report': {
      get: op(
        'auditor',
        'a chain-of-custody report (self-contained HTML) for a file, across logs; marked VERIFIED only when every log it rests on re-verifies whole now',
        {
          '200': {
            description: 'the report; X-Ffaudit-Verified says whether it is marked VERIFIED',
            headers: { 'X-Ffaudit-Verified': { schema: { enum: ['true', 'false'] } }, 'Content-Security-Policy': { schema: { type: 'string' } } },
            content: { 'text/html': { schema: { type: 'string', pattern: '^<!DOCTYPE html>' } } },
          },
          ...NOT_FOUND,
          '422': text('the mirrored evidence does not verify'),
        },
        fileParams,
      ),
    },
    '/api/v1/export': {
      get: op(
        'auditor',
        'every run or note the filter matches, oldest first, streamed as ECS NDJSON (one data stream per log) or CSV. The body ends properly only when the export is complete; an unreadable match ends it with a last line (`{"ffaudit_export_error": …}` or a `#ERROR` row) and an aborted transfer',
        {
          '200': {
            description: `the export; CSV columns: ${CSV_COLUMNS.join(', ')} (cells that would start a spreadsheet formula are prefixed with ')`,
            content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } },
          },
          '422': text('the first match could not be read back as recorded: nothing is exported'),
        },
        [
          { name: 'format', in: 'query', required: true, schema: { enum: ['ecs', 'csv'] } },
          { name: 'type', in: 'query', schema: { enum: ['run', 'note'], default: 'run' } },
          ...FILTERS,
          pref('status'),
          pref('tool'),
        ],
      ),
    },
    '/api/v1/logs/{host}/verify': {
      post: op('auditor', "re-verify a host's mirrored entries against the mirror checkpoint now (recorded like the scheduled checks)", { '200': json('the findings', ref('Verification')), ...NOT_FOUND }, [
        { name: 'host', in: 'path', required: true, schema: { type: 'string' } },
      ]),
    },
    '/api/v1/hosts': {
      get: op('admin', 'every host, as `ffaudit serve hosts list --json`', { '200': json('the hosts', ref('Hosts')) }),
    },
    '/api/v1/tokens': {
      get: op('admin', 'every API token (never the token itself)', { '200': json('the tokens', ref('Tokens')) }),
      post: op('admin', 'make an API token: the answer is the only time it is shown', { '201': json('the token made', ref('NewToken')), '413': text('the body is over 4 KiB') }, [], {
        requestBody: { required: true, content: { 'application/json': { schema: ref('TokenRequest') } } },
      }),
    },
    '/api/v1/tokens/{id}': {
      delete: op('admin', 'revoke a token at once (its next request gets 401)', { '200': json('the revoked token', ref('Token')), ...NOT_FOUND }, [
        { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } },
      ]),
    },
  },
};
