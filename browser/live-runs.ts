// Keeps the newest page of /runs up to date: listens to /runs/events (server-sent events of the same filter, from
// after the newest run the page shows) and puts each run at the top of the table, built with textContent only (every
// value is a recorder's word). The page works the same without this script; a reload shows what it adds.

interface RunRowView {
  id: string;
  log: string;
  href: string;
  time: string;
  host: string;
  user: string;
  tool: string;
  status: string;
  inputs: string;
  outputs: string;
}

const BADGE: Record<string, string> = { ok: 'ok', failed: 'bad', terminated: 'bad', incomplete: 'warn' };
/** Rows the page keeps at most, as the server's page size would: older ones drop off the bottom. */
const MAX_ROWS = 1000;

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function bdi(text: string): HTMLElement {
  const b = document.createElement('bdi');
  b.textContent = text;
  return b;
}

function timeCell(iso: string): HTMLTableCellElement {
  const td = document.createElement('td');
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(iso);
  if (!m) {
    td.textContent = iso;
    return td;
  }
  const t = document.createElement('time');
  t.dateTime = `${m[1]}T${m[2]}${(m[3] ?? '.000').slice(0, 4).padEnd(4, '0')}Z`;
  t.title = iso;
  t.textContent = `${m[1]} ${m[2]} UTC`;
  td.append(t);
  return td;
}

function row(r: RunRowView): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.run = `${r.log}\n${r.id}`;
  tr.className = 'fresh';
  const host = document.createElement('td');
  host.append(bdi(r.host));
  const user = document.createElement('td');
  user.append(bdi(r.user));
  const status = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `badge ${BADGE[r.status] ?? 'neutral'}`;
  badge.textContent = r.status;
  status.append(badge);
  const flow = document.createElement('td');
  flow.className = 'flow';
  const arrow = document.createElement('span');
  arrow.setAttribute('aria-label', 'to');
  arrow.textContent = '→';
  flow.append(bdi(r.inputs), ' ', arrow, ' ', bdi(r.outputs));
  const link = document.createElement('td');
  const a = document.createElement('a');
  // Only a path of this server: the view's href is built by the server, and checked again here.
  a.href = r.href.startsWith('/runs/') ? r.href : '/runs';
  a.className = 'hash';
  a.textContent = r.id.slice(0, 12);
  link.append(a);
  tr.append(timeCell(r.time), host, user, cell(r.tool), status, flow, link);
  return tr;
}

function start(): void {
  const status = document.getElementById('live-status');
  const body = document.getElementById('run-rows');
  const url = status?.dataset.events;
  if (!status || !(body instanceof HTMLTableSectionElement) || !url || typeof EventSource === 'undefined') return;
  let added = 0;
  const say = (text: string) => {
    status.textContent = text;
  };
  const source = new EventSource(url);
  source.addEventListener('open', () => say('Live: new runs appear at the top as hosts push them.'));
  source.addEventListener('error', () => say('Live updates paused; reconnecting… (reload to be sure you see everything)'));
  source.addEventListener('signedout', () => {
    source.close();
    say('Live updates stopped: you are no longer signed in. Reload the page to sign in again.');
  });
  source.addEventListener('failed', (e) => {
    source.close();
    say(`Live updates stopped: ${String(JSON.parse((e as MessageEvent<string>).data))}. Reload the page.`);
  });
  source.addEventListener('run', (e) => {
    const r = JSON.parse((e as MessageEvent<string>).data) as RunRowView;
    const tr = row(r);
    const same = [...body.rows].find((x) => x.dataset.run === tr.dataset.run);
    if (same) same.replaceWith(tr);
    else body.prepend(tr);
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    document.getElementById('runs-empty')?.remove();
    added++;
    say(`Live: ${added} new run${added === 1 ? '' : 's'} since the page loaded.`);
    tr.dispatchEvent(new Event('ffaudit:rows', { bubbles: true }));
  });
  source.addEventListener('unreadable', (e) => {
    const u = JSON.parse((e as MessageEvent<string>).data) as { log: string; index: number; error: string };
    say(`A new match could not be read back as recorded (entry ${u.index} of ${u.log}: ${u.error}). Reload the page to see it listed.`);
  });
}

document.addEventListener('DOMContentLoaded', start);
