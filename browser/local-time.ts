// Adds the viewer's local time beside every time the server rendered in UTC (<time datetime="…Z">), for people who
// think in their own time zone; the UTC text stays, as the record has it.
function addLocalTimes(root: ParentNode): void {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  for (const t of root.querySelectorAll<HTMLTimeElement>('time[datetime]:not([data-local])')) {
    const d = new Date(t.dateTime);
    if (Number.isNaN(d.getTime())) continue;
    t.dataset.local = '1';
    const local = document.createElement('span');
    local.className = 'local-time';
    local.textContent = ` (${fmt.format(d)} local)`;
    t.after(local);
  }
}

document.addEventListener('DOMContentLoaded', () => addLocalTimes(document));
// Pages that add rows later (the live runs list) announce them with this event.
document.addEventListener('ffaudit:rows', (e) => addLocalTimes((e.target as ParentNode | null) ?? document));
