// distcron console: vanilla JavaScript, no build step, no dependencies.
// Every URL is relative, so the console works under any mount prefix.
'use strict';
(() => {
  const POLL_MS = 2000;
  const STATUSES = ['succeeded', 'failed', 'timeout', 'killed', 'skipped', 'lost'];
  const PROBLEMS = ['failed', 'timeout', 'lost', 'killed'];
  const REDACTED = '<redacted>'; // a secret value in the API's answers (admin.Redacted)

  const state = {
    info: null,
    skew: 0, // server clock minus browser clock, ms
    token: sessionStorage.getItem('distcron.token') || '',
    view: null,
    seq: 0,
    timer: 0,
    details: new Map(), // run id -> full record (records do not change)
    detailEls: new Map(), // run id -> detail element (keeps its scroll)
  };

  // ---------- DOM helpers ----------

  // el builds an element: el('a', {href: '#/', class: 'x', onclick: f}, 'text', child, [more]).
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'value') e.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') e[k] = !!v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    append(e, children);
    return e;
  }
  function append(e, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(e, c);
      else e.append(c instanceof Node ? c : String(c));
    }
  }
  function replace(e, ...children) {
    e.replaceChildren();
    append(e, children);
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  const enc = encodeURIComponent;
  const clean = (msg) => String(msg).replace(/distcron: /g, '');

  // ---------- API ----------

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Accept: 'application/json' }, cache: 'no-store' };
    if (state.token) opts.headers.Authorization = 'Bearer ' + state.token;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch('api/' + path, opts);
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      throw new APIError(res.status, clean((data && data.error) || res.status + ' ' + res.statusText));
    }
    return data;
  }

  // ---------- time and numbers ----------

  const now = () => Date.now() + state.skew;
  const ms = (t) => (t ? Date.parse(t) : NaN);

  function fmtAbs(t) {
    const d = new Date(t);
    if (isNaN(d)) return '';
    const today = new Date(now());
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    if (d.toDateString() === today.toDateString()) return time;
    const opts = { month: 'short', day: 'numeric' };
    if (d.getFullYear() !== today.getFullYear()) opts.year = 'numeric';
    return d.toLocaleDateString([], opts) + ' ' + time;
  }

  function span(sec) {
    sec = Math.round(sec);
    if (sec < 60) return sec + 's';
    const m = Math.floor(sec / 60);
    if (m < 60) return m + 'm' + (m < 10 && sec % 60 ? ' ' + (sec % 60) + 's' : '');
    const h = Math.floor(m / 60);
    if (h < 48) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
    const days = Math.floor(h / 24);
    if (days < 365) return days + 'd';
    const y = Math.floor(days / 365.25);
    const rest = Math.floor(days - y * 365.25);
    return y + 'y' + (rest ? ' ' + rest + 'd' : '');
  }

  function rel(t) {
    const v = ms(t);
    if (isNaN(v)) return '—';
    const d = (v - now()) / 1000;
    if (Math.abs(d) < 1) return 'now';
    return d > 0 ? 'in ' + span(d) : span(-d) + ' ago';
  }

  function dur(ns) {
    if (ns === undefined || ns === null) return '—';
    const msv = ns / 1e6;
    if (msv < 1) return '<1ms';
    if (msv < 1000) return Math.round(msv) + 'ms';
    const s = msv / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + String(Math.round(s % 60)).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h ' + String(m % 60).padStart(2, '0') + 'm';
  }

  const num = (n) => (n || 0).toLocaleString();

  function pct(r) {
    if (r === null || r === undefined) return el('span', { class: 'faint', text: '—' });
    const p = r * 100;
    const text = p === 100 ? '100%' : p >= 99.95 ? '99.9%' : p.toFixed(p >= 10 ? 1 : 2).replace(/\.0+$/, '') + '%';
    return el('span', { class: 'rate ' + (r >= 0.99 ? 'good' : r >= 0.9 ? 'mid' : 'bad'), text });
  }

  // ---------- small components ----------

  function badge(cls, text, title) {
    return el('span', { class: 'badge ' + cls, title }, text || cls);
  }

  // jobState is the one-word state of a job in the cluster.
  function jobState(j) {
    if (j.running && j.running.length) {
      const where = [...new Set(j.running.map((r) => r.instance))];
      return badge('running', j.running.length > 1 ? j.running.length + ' running' : 'running on ' + where[0], 'Running on ' + where.join(', '));
    }
    if (!j.local) return badge('plain', 'elsewhere', 'Registered in code on ' + (j.instances.join(', ') || 'another instance') + ' only');
    if (j.paused) return badge('paused', 'paused');
    if (j.refused) return badge('refused', 'refused here', clean(j.refused));
    if (!j.next_runs || !j.next_runs.length) return badge('plain', 'no more runs');
    return badge('scheduled', 'scheduled', j.eligible ? '' : 'This instance lacks the required tags; other instances run it');
  }

  function bar(counts, total) {
    const b = el('div', { class: 'bar', title: STATUSES.filter((s) => counts[s]).map((s) => counts[s] + ' ' + s).join(', ') });
    if (total > 0) {
      for (const s of STATUSES) {
        if (!counts[s]) continue;
        const part = el('span', { class: s });
        part.style.width = Math.max(1.5, (counts[s] / total) * 100) + '%';
        b.append(part);
      }
    }
    return b;
  }

  function legend() {
    return el('div', { class: 'legend' }, STATUSES.map((s) => el('span', {}, el('i', { class: s }), s)));
  }

  function empty(title, ...text) {
    return el('div', { class: 'empty' }, el('div', { class: 'title', text: title }), text.map((t) => el('p', {}, t)));
  }

  function noHistory() {
    return empty('Run history is not configured',
      'This console shows run history when the host app passes a sink that can be queried:',
      el('code', { text: 'admin.WithHistory(sqlOrMongoSink)' }),
      'Jobs, instances and runs in progress work without it.');
  }

  function toast(msg, err) {
    const t = el('div', { class: 'toast' + (err ? ' err' : ''), role: 'status' }, msg);
    const box = $('#toasts');
    box.append(t);
    while (box.children.length > 3) box.firstChild.remove();
    setTimeout(() => t.remove(), err ? 6000 : 2500);
  }

  // page is a page's heading: title, then sub (text or nodes) beside it,
  // then right at the far end.
  function page(title, sub, ...right) {
    return el('div', { class: 'page-head' },
      el('h1', { text: title }), typeof sub === 'string' ? (sub ? el('span', { class: 'sub', text: sub }) : null) : sub,
      el('span', { class: 'spacer' }), right);
  }

  function card(title, body, ...head) {
    return el('section', { class: 'card' },
      title ? el('div', { class: 'card-head' }, el('h2', { text: title }), el('span', { class: 'spacer' }), head) : null,
      body);
  }

  // ---------- permissions and actions ----------

  const canMutate = () => !!(state.info && state.info.can_mutate);
  const canRead = () => !!(state.info && state.info.can_read);
  function whyNot() {
    if (!state.info) return '';
    if (state.info.read_only) return 'Read-only console: the host app did not enable changes (admin.WithAuthorizer)';
    return 'Not authorized: ' + clean(state.info.denied || 'the host app refuses changes from you');
  }
  function whyNotRead() {
    return 'Not authorized to view this cluster: ' + clean((state.info && state.info.read_denied) || 'the host app refuses reads from you');
  }

  const ACTIONS = {
    trigger: { label: 'Run now', done: (n) => 'Run of ' + n + ' requested' },
    pause: { label: 'Pause', done: (n) => n + ' paused' },
    resume: { label: 'Resume', done: (n) => n + ' resumed' },
    kill: { label: 'Kill', done: (n) => 'Kill of ' + n + ' requested', cls: 'danger' },
  };

  function actionButton(job, action, opts) {
    opts = opts || {};
    const a = ACTIONS[action];
    const allowed = canMutate();
    const off = !allowed || opts.disabled;
    return el('button', {
      class: (a.cls || '') + (opts.small ? ' small' : ''),
      'data-action': action,
      'data-job': job,
      disabled: off,
      title: !allowed ? whyNot() : opts.disabled ? opts.why || '' : '',
      onclick: async (ev) => {
        ev.stopPropagation();
        const btn = ev.currentTarget;
        btn.disabled = true;
        try {
          await api('POST', 'jobs/' + enc(job) + '/' + action);
          toast(a.done(job));
        } catch (e) {
          toast(a.label + ' ' + job + ': ' + e.message, true);
        }
        refresh();
      },
    }, a.label);
  }

  function jobActions(j, small) {
    if (!j.local) return [];
    const running = j.running && j.running.length > 0;
    return [
      actionButton(j.name, 'trigger', { small, disabled: j.paused, why: 'Paused: resume it to run it now' }),
      j.paused ? actionButton(j.name, 'resume', { small }) : actionButton(j.name, 'pause', { small }),
      actionButton(j.name, 'kill', { small, disabled: !running, why: 'Nothing running' }),
    ];
  }

  // deleteButton asks for a second click instead of a dialog.
  function deleteButton(name) {
    let armed = false;
    let timer = 0;
    const btn = el('button', {
      class: 'danger', 'data-action': 'delete', disabled: !canMutate(), title: canMutate() ? 'Delete this job definition' : whyNot(),
      onclick: async () => {
        if (!armed) {
          armed = true;
          btn.textContent = 'Click again to delete';
          btn.classList.add('confirm');
          timer = setTimeout(() => {
            armed = false;
            btn.textContent = 'Delete';
            btn.classList.remove('confirm');
          }, 4000);
          return;
        }
        clearTimeout(timer);
        btn.disabled = true;
        try {
          await api('DELETE', 'jobs/' + enc(name));
          toast(name + ' deleted');
          location.hash = '#/jobs';
        } catch (e) {
          toast('Delete ' + name + ': ' + e.message, true);
          btn.disabled = false;
        }
      },
    }, 'Delete');
    return btn;
  }

  // ---------- run lists ----------

  // RunList shows history with expandable rows, for the runs page and a
  // job's page. filters: {job, status, instance}.
  function RunList(opts) {
    const self = { filters: Object.assign({}, opts.filters), limit: opts.limit || 25, open: new Set(), last: null };
    const body = el('div', { class: 'card-body flush' });
    self.el = body;

    self.load = async (alive) => {
      if (!state.info || !state.info.history) {
        replace(body, noHistory());
        return;
      }
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(self.filters)) if (v) q.set(k, v);
      q.set('limit', self.limit);
      const data = await api('GET', 'runs?' + q);
      if (alive && !alive()) return;
      self.last = data;
      // Do not redraw under a reader who is selecting text (output).
      const sel = window.getSelection();
      if (sel && !sel.isCollapsed && body.contains(sel.anchorNode)) return;
      render(data);
    };

    function toggle(r) {
      if (self.open.has(r.id)) self.open.delete(r.id);
      else self.open.add(r.id);
      if (self.last) render(self.last);
    }

    function detailRow(r, cols) {
      let d = state.detailEls.get(r.id);
      if (!d) {
        d = el('div', { class: 'run-detail' }, el('span', { class: 'muted', text: 'Loading output…' }));
        state.detailEls.set(r.id, d);
        api('GET', 'runs/' + r.id).then((full) => {
          state.details.set(r.id, full);
          fillDetail(d, full);
        }).catch((e) => replace(d, el('span', { class: 'muted', text: 'Could not load this run: ' + e.message })));
      }
      return el('tr', { class: 'detail' }, el('td', { colspan: cols }, d));
    }

    function render(data) {
      const showJob = !self.filters.job;
      const cols = showJob ? 7 : 6;
      if (!data.runs.length) {
        const f = Object.entries(self.filters).filter(([, v]) => v);
        if (opts.jobPage) replace(body, empty('No runs yet', 'Runs of ' + self.filters.job + ' appear here when it fires or is run by hand.'));
        else if (f.length) replace(body, empty('No runs match', 'Nothing recorded for ' + f.map(([k, v]) => k + ' = ' + v).join(', ') + '.'));
        else replace(body, empty('No runs yet', 'Runs appear here as soon as jobs fire and their records reach the history store.'));
        return;
      }
      const rows = [];
      for (const r of data.runs) {
        const open = self.open.has(r.id);
        rows.push(el('tr', {
          class: 'clickable' + (open ? ' open' : ''), 'data-run': r.id, 'data-job': r.job, 'data-status': r.status,
          'data-trigger': r.trigger, onclick: () => toggle(r), title: 'Show output and details', tabindex: 0,
          'aria-expanded': open ? 'true' : 'false',
          onkeydown: (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              toggle(r);
            }
          },
        },
        el('td', {}, badge(r.status)),
        showJob ? el('td', {}, el('a', { class: 'name', href: '#/jobs/' + enc(r.job), onclick: (e) => e.stopPropagation() }, r.job)) : null,
        el('td', { class: 'nowrap', title: r.tick }, fmtAbs(r.tick), el('div', { class: 'sub-line', text: rel(r.tick) })),
        el('td', { class: 'num' }, dur(r.duration)),
        el('td', {}, r.instance),
        el('td', {}, r.trigger, r.attempt > 1 ? el('span', { class: 'faint', text: ' · attempt ' + r.attempt }) : null),
        el('td', { class: 'sub-line err-cell', title: r.error || '' }, clean((r.error || '').split('\n')[0]))));
        if (open) rows.push(detailRow(r, cols));
      }
      const table = el('table', {},
        el('thead', {}, el('tr', {}, el('th', { text: 'Status' }), showJob ? el('th', { text: 'Job' }) : null,
          el('th', { text: 'Scheduled' }), el('th', { class: 'num', text: 'Duration' }), el('th', { text: 'Instance' }),
          el('th', { text: 'Trigger' }), el('th', { text: 'Error' }))),
        el('tbody', {}, rows));
      const more = data.next && self.limit < 1000
        ? el('div', { class: 'more' }, el('button', {
          onclick: () => {
            self.limit = Math.min(1000, self.limit * 2);
            refresh();
          },
        }, 'Show more'))
        : null;
      const scroll = new Map();
      for (const id of self.open) {
        const pre = state.detailEls.get(id) && state.detailEls.get(id).querySelector('pre.output');
        if (pre) scroll.set(pre, pre.scrollTop);
      }
      const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.dataset.run : null;
      replace(body, el('div', { class: 'table-wrap' }, table), more);
      for (const [pre, top] of scroll) pre.scrollTop = top;
      if (focused) {
        const row = body.querySelector('tr[data-run="' + CSS.escape(focused) + '"]');
        if (row) row.focus({ preventScroll: true });
      }
    }
    return self;
  }

  function fillDetail(d, r) {
    const meta = [
      ['Tick', r.tick], ['Started', fmtAbs(r.started)], ['Finished', fmtAbs(r.finished)], ['Duration', dur(r.duration)],
      ['Instance', r.instance], ['Trigger', r.trigger], ['Attempt', r.attempt], ['Shard', r.shard],
      ['Exit code', r.exit_code], ['Fencing token', r.token],
    ];
    const parts = [el('div', { class: 'run-meta' }, meta.map(([k, v]) => el('span', {}, el('b', { text: k }), String(v))))];
    if (r.error) parts.push(el('pre', { class: 'error-text' }, r.error));
    if (r.steps && r.steps.length) {
      parts.push(el('table', {}, el('thead', {}, el('tr', {}, ['Step', 'Status', 'Duration', 'Exit', 'Error'].map((h) => el('th', { text: h })))),
        el('tbody', {}, r.steps.map((s) => el('tr', {}, el('td', { text: s.name }), el('td', {}, badge(s.status)),
          el('td', { text: dur(s.duration) }), el('td', { text: s.exit_code }), el('td', { class: 'sub-line', text: s.error || '' }))))));
      for (const s of r.steps) if (s.output) parts.push(el('div', { class: 'muted', text: 'Output of ' + s.name }), el('pre', { class: 'output' }, s.output));
    }
    parts.push(r.output
      ? el('pre', { class: 'output', 'data-output': '' }, r.output)
      : el('div', { class: 'faint', text: 'No output recorded.' }));
    replace(d, parts);
  }

  // ---------- views ----------

  const views = {};

  views.dashboard = {
    nav: 'dashboard',
    mount(main) {
      const v = {
        stats: el('div', { class: 'stats' }),
        jobs: el('div', { class: 'card-body flush' }),
        instances: el('div', { class: 'card-body flush' }),
        problems: el('div', { class: 'card-body flush' }),
      };
      replace(main,
        page('Dashboard', 'The cluster and the last 24 hours of runs'),
        v.stats,
        el('div', { class: 'grid side' },
          el('div', {}, card('Jobs · last 24 hours', v.jobs, legend())),
          el('div', {}, card('Instances', v.instances, el('a', { href: '#/instances', text: 'All' })),
            card('Recent problems', v.problems, el('a', { href: '#/runs?status=failed,timeout,lost,killed', text: 'All' })))));
      return v;
    },
    async update(v, alive) {
      const hist = state.info.history;
      const [jobs, inst, sum, probs] = await Promise.all([
        api('GET', 'jobs'), api('GET', 'instances'),
        hist ? api('GET', 'summary?since=24h') : null,
        hist ? api('GET', 'runs?since=24h&limit=6&status=' + PROBLEMS.join(',')) : null,
      ]);
      if (!alive()) return;
      const running = jobs.jobs.reduce((n, j) => n + j.running.length, 0);
      const paused = jobs.jobs.filter((j) => j.paused).length;
      const leader = inst.leader || 'none';
      const problems = sum ? PROBLEMS.filter((s) => s !== 'killed').reduce((n, s) => n + (sum.totals[s] || 0), 0) : 0;
      const stat = (cls, label, value, note) => el('div', { class: 'stat ' + cls }, el('div', { class: 'label', text: label }),
        el('div', { class: 'value' }, value), el('div', { class: 'note' }, note));
      replace(v.stats,
        stat('', 'Runs · 24h', sum ? num(sum.total) : '—', sum ? (sum.partial ? 'newest records only' : 'all instances') : 'no history configured'),
        stat(sum && sum.success_rate !== null ? (sum.success_rate >= 0.99 ? 'ok' : sum.success_rate >= 0.9 ? 'warn' : 'bad') : '',
          'Success rate', sum ? pct(sum.success_rate).textContent : '—', 'of runs not skipped'),
        stat(problems ? 'bad' : '', 'Failures · 24h', sum ? num(problems) : '—', 'failed, timed out or lost'),
        stat(running ? 'run' : '', 'Running now', num(running), running === 1 ? 'run in progress' : 'runs in progress'),
        stat('', 'Jobs', num(jobs.jobs.length), paused ? paused + ' paused' : 'none paused'),
        stat('', 'Instances', num(inst.instances.length), 'leader ' + leader));

      // Jobs with their 24h counts.
      const byJob = new Map((sum ? sum.jobs : []).map((s) => [s.job, s]));
      const names = [...new Set([...jobs.jobs.map((j) => j.name), ...byJob.keys()])].sort();
      const jobByName = new Map(jobs.jobs.map((j) => [j.name, j]));
      if (!names.length) {
        replace(v.jobs, empty('No jobs yet', canMutate() ? 'Register jobs in code, or define one here.' : 'Jobs registered in code on any instance, and jobs defined in etcd, appear here.',
          canMutate() ? el('a', { class: 'btn primary', href: '#/new', text: 'New job' }) : null));
      } else {
        replace(v.jobs, el('div', { class: 'table-wrap' }, el('table', {},
          el('thead', {}, el('tr', {}, el('th', { text: 'Job' }), el('th', { text: 'Runs by status' }), el('th', { class: 'num', text: 'Runs' }),
            el('th', { class: 'num', text: 'Failed' }), el('th', { class: 'num', text: 'Success' }), el('th', { text: 'Last run' }))),
          el('tbody', {}, names.map((n) => {
            const s = byJob.get(n) || { counts: {}, total: 0, success_rate: null };
            const j = jobByName.get(n);
            const failed = (s.counts.failed || 0) + (s.counts.timeout || 0) + (s.counts.lost || 0);
            return el('tr', { 'data-job': n },
              el('td', {}, el('a', { class: 'name', href: '#/jobs/' + enc(n), text: n }),
                el('div', { class: 'sub-line' }, j ? (j.paused ? 'paused · ' : '') + (j.schedule || j.kind || '') : 'no longer defined')),
              el('td', {}, sum ? bar(s.counts, s.total) : el('span', { class: 'faint', text: 'no history' })),
              el('td', { class: 'num', text: sum ? num(s.total) : '—' }),
              el('td', { class: 'num' }, failed ? el('span', { class: 'rate bad', text: num(failed) }) : el('span', { class: 'faint', text: '0' })),
              el('td', { class: 'num' }, pct(s.success_rate)),
              el('td', { class: 'nowrap', title: s.last || '' }, j && j.running.length ? badge('running', 'running') : s.last ? rel(s.last) : el('span', { class: 'faint', text: 'none' })));
          })))));
      }

      replace(v.instances, inst.instances.length
        ? el('table', {}, el('tbody', {}, inst.instances.map((i) => el('tr', {},
          el('td', {}, el('strong', { text: i.id }), ' ', i.leader ? badge('leader', 'leader') : null,
            el('div', { class: 'sub-line', text: i.host + ' · pid ' + i.pid })),
          el('td', { class: 'sub-line right', text: 'up ' + span((now() - ms(i.started)) / 1000) })))))
        : empty('No live instances'));

      if (!probs) replace(v.problems, noHistory());
      else if (!probs.runs.length) replace(v.problems, empty('No problems', 'No failed, timed-out, lost or killed runs in the last 24 hours.'));
      else {
        replace(v.problems, el('div', { class: 'plist' }, probs.runs.map((r) => el('a', { class: 'prow', href: '#/jobs/' + enc(r.job), 'data-problem': r.job },
          badge(r.status),
          el('div', { class: 'pmain' },
            el('div', { class: 'line' }, el('span', { class: 'name', text: r.job }),
              el('span', { class: 'sub-line nowrap', title: r.tick, text: rel(r.tick) })),
            el('div', { class: 'sub-line ellipsis', title: r.error || '', text: clean((r.error || '').split('\n')[0]) || r.status }))))));
      }
    },
  };

  views.jobs = {
    nav: 'jobs',
    mount(main) {
      const v = { body: el('div', { class: 'card-body flush' }), invalid: el('div'), filter: '' };
      const search = el('input', {
        type: 'search', placeholder: 'Filter jobs', 'aria-label': 'Filter jobs', id: 'job-filter',
        oninput: (e) => {
          v.filter = e.target.value.trim().toLowerCase();
          if (v.last) this.render(v, v.last);
        },
      });
      replace(main,
        page('Jobs', '', el('a', { class: 'btn primary', href: '#/new', id: 'new-job' }, '+ New job')),
        v.invalid,
        card(null, [el('div', { class: 'toolbar' }, search, el('span', { class: 'spacer' })), v.body]));
      return v;
    },
    async update(v, alive) {
      const [jobs, sum] = await Promise.all([api('GET', 'jobs'), state.info.history ? api('GET', 'summary?since=24h') : null]);
      if (!alive()) return;
      v.last = { jobs, sum };
      this.render(v, v.last);
    },
    render(v, { jobs, sum }) {
      replace(v.invalid, jobs.invalid.length
        ? card('Invalid definitions in etcd', el('ul', { class: 'warn-list' },
          jobs.invalid.map((d) => el('li', {}, el('strong', { text: d.name }), ': ', clean(d.error)))))
        : null);
      const list = jobs.jobs.filter((j) => !v.filter || j.name.toLowerCase().includes(v.filter) || (j.kind || '').includes(v.filter));
      if (!jobs.jobs.length) {
        replace(v.body, empty('No jobs yet', 'Jobs registered in code on any instance, and jobs defined here or in etcd, appear in this list.',
          canMutate() ? el('a', { class: 'btn primary', href: '#/new', text: 'Define a job' }) : null));
        return;
      }
      if (!list.length) {
        replace(v.body, empty('No job matches “' + v.filter + '”'));
        return;
      }
      const byJob = new Map((sum ? sum.jobs : []).map((s) => [s.job, s]));
      replace(v.body, el('div', { class: 'table-wrap' }, el('table', {},
        el('thead', {}, el('tr', {}, el('th', { text: 'Job' }), el('th', { text: 'Schedule' }), el('th', { text: 'Next run' }),
          el('th', { text: 'Status' }), sum ? el('th', { text: 'Last 24h' }) : null, el('th', { class: 'right', text: 'Actions' }))),
        el('tbody', {}, list.map((j) => {
          const s = byJob.get(j.name);
          const next = j.next_runs && j.next_runs[0];
          return el('tr', { 'data-job': j.name, 'data-paused': j.paused ? 'true' : 'false', 'data-running': String(j.running.length) },
            el('td', {}, el('a', { class: 'name', href: '#/jobs/' + enc(j.name), text: j.name }),
              el('div', { class: 'sub-line' }, j.kind ? el('span', { class: 'kind', text: j.kind }) : null, j.source ? ' · ' + j.source : '')),
            el('td', {}, el('code', { text: j.schedule || '—' }), el('div', { class: 'sub-line', text: j.location || '' })),
            el('td', { class: 'nowrap', title: next || '' }, next && !j.paused ? rel(next) : el('span', { class: 'faint', text: j.paused ? 'paused' : '—' }),
              next && !j.paused ? el('div', { class: 'sub-line', text: fmtAbs(next) }) : null),
            el('td', {}, jobState(j)),
            sum ? el('td', {}, s ? [bar(s.counts, s.total), el('div', { class: 'sub-line' }, num(s.total) + (s.total === 1 ? ' run · ' : ' runs · '), pct(s.success_rate))] : el('span', { class: 'faint', text: 'no runs' })) : null,
            el('td', {}, el('div', { class: 'actions' }, jobActions(j, true))));
        })))));
    },
  };

  views.job = {
    nav: 'jobs',
    mount(main, route) {
      const v = {
        name: route.name,
        head: el('div'),
        running: el('div'),
        details: el('div', { class: 'card-body' }),
        next: el('div', { class: 'card-body' }),
        def: el('div'),
        runs: RunList({ filters: { job: route.name }, limit: 20, jobPage: true }),
      };
      replace(main,
        el('div', { class: 'crumbs' }, el('a', { href: '#/jobs', text: 'Jobs' }), ' / ', route.name),
        v.head,
        el('div', { class: 'grid side' },
          el('div', {}, v.running, card('Recent runs', v.runs.el, el('a', { href: '#/runs?job=' + enc(route.name), text: 'All runs' }))),
          el('div', {}, card('Details', v.details), card('Next runs', v.next), v.def)));
      return v;
    },
    async update(v, alive) {
      let j;
      try {
        j = await api('GET', 'jobs/' + enc(v.name));
      } catch (e) {
        if (e.status !== 404) throw e;
        if (!alive()) return;
        replace(v.head, page(v.name), card(null, empty('No such job', 'There is no job named “' + v.name + '” in this cluster (any more).',
          el('a', { href: '#/jobs', text: 'Back to jobs' }))));
        replace(v.details);
        return;
      }
      await v.runs.load(alive);
      if (!alive()) return;
      const editable = j.definition && (j.definition.kind === 'shell' || j.definition.kind === 'http');
      replace(v.head, page(j.name, jobState(j),
        el('div', { class: 'actions' }, jobActions(j, false),
          editable ? el('a', { class: 'btn', href: '#/edit/' + enc(j.name), id: 'edit-job' }, 'Edit') : null,
          j.definition ? deleteButton(j.name) : null)));

      replace(v.running, j.running.length
        ? card('Running now', el('div', { class: 'card-body flush' }, el('table', {},
          el('thead', {}, el('tr', {}, ['Instance', 'Started', 'Tick', 'Trigger', 'Token'].map((h) => el('th', { text: h })))),
          el('tbody', {}, j.running.map((r) => el('tr', { 'data-running-on': r.instance },
            el('td', {}, badge('running', r.instance)), el('td', { text: rel(r.claimed) }), el('td', { text: fmtAbs(r.tick) }),
            el('td', { text: r.trigger }), el('td', { class: 'mono', text: r.token })))))))
        : null);

      const kv = [
        ['Schedule', el('code', { text: j.schedule || '—' })],
        ['Time zone', j.location || '—'],
        ['Kind', j.kind || '—'],
        ['Source', j.source || 'registered on other instances'],
        ['Overlap', j.overlap || '—'],
      ];
      if (j.shards) kv.push(['Shards', j.shards]);
      if (j.broadcast) kv.push(['Broadcast', 'every eligible instance']);
      if (j.tags && j.tags.length) kv.push(['Requires tags', j.tags.map((t) => el('span', { class: 'tag', text: t }))]);
      if (j.refused) kv.push(['Refused here', el('span', { class: 'rate bad', text: clean(j.refused) })]);
      if (j.last) {
        kv.push(['Last run here', [badge(j.last.status),
          el('span', { title: j.last.tick, text: ' ' + fmtAbs(j.last.tick) + ' · ' + rel(j.last.finished) + ' · ' + j.last.instance })]]);
      }
      kv.push(['Registered on', j.instances.length ? j.instances.map((i) => el('span', { class: 'tag', text: i })) : '—']);
      replace(v.details, el('dl', { class: 'kv' }, kv.map(([k, val]) => [el('dt', { text: k }), el('dd', {}, val)])));

      replace(v.next, j.paused
        ? el('div', { class: 'muted' }, 'Paused: scheduled ticks are skipped until it is resumed. Run now still works.')
        : j.next_runs.length
          ? el('ol', { class: 'next' }, j.next_runs.map((t) => el('li', { title: t }, fmtAbs(t), el('span', { class: 'faint', text: ' · ' + rel(t) }))))
          : el('div', { class: 'muted', text: 'No upcoming runs.' }));

      replace(v.def, j.definition
        ? card('Definition', el('div', { class: 'card-body' }, el('pre', { class: 'json', text: JSON.stringify(j.definition, null, 2) })))
        : null);
    },
  };

  views.runs = {
    nav: 'runs',
    mount(main, route) {
      const p = new URLSearchParams(route.query);
      const list = RunList({ filters: { job: p.get('job') || '', status: p.get('status') || '', instance: p.get('instance') || '' }, limit: 50 });
      const v = { list, jobSel: el('select', { id: 'runs-job' }), instSel: el('select', { id: 'runs-instance' }) };
      const statusSel = el('select', { id: 'runs-status' },
        el('option', { value: '', text: 'Any status' }),
        el('option', { value: PROBLEMS.join(','), text: 'Any problem' }),
        STATUSES.map((s) => el('option', { value: s, text: s })));
      statusSel.value = list.filters.status;
      if (statusSel.value !== list.filters.status) {
        statusSel.append(el('option', { value: list.filters.status, text: list.filters.status }));
        statusSel.value = list.filters.status;
      }
      const changed = () => {
        list.filters = { job: v.jobSel.value, status: statusSel.value, instance: v.instSel.value };
        list.open.clear();
        const q = new URLSearchParams(Object.entries(list.filters).filter(([, x]) => x));
        history.replaceState(null, '', '#/runs' + (q.toString() ? '?' + q : ''));
        refresh();
      };
      for (const s of [v.jobSel, statusSel, v.instSel]) s.addEventListener('change', changed);
      replace(main,
        page('Runs', 'Run history, newest first. Click a run for its output.'),
        card(null, [el('div', { class: 'toolbar' }, el('label', {}, 'Job', v.jobSel), el('label', {}, 'Status', statusSel),
          el('label', {}, 'Instance', v.instSel)), list.el]));
      return v;
    },
    async update(v, alive) {
      const [jobs, inst] = await Promise.all([api('GET', 'jobs'), api('GET', 'instances'), v.list.load(alive)]);
      if (!alive()) return;
      fillSelect(v.jobSel, 'All jobs', jobs.jobs.map((j) => j.name), v.list.filters.job);
      fillSelect(v.instSel, 'All instances', inst.instances.map((i) => i.id), v.list.filters.instance);
    },
  };

  // fillSelect sets a select's options, keeping the current choice.
  function fillSelect(sel, any, values, current) {
    const want = [''].concat(values);
    if (current && !want.includes(current)) want.push(current);
    const have = [...sel.options].map((o) => o.value);
    if (have.join('\n') !== want.join('\n')) {
      replace(sel, want.map((x) => el('option', { value: x, text: x || any })));
    }
    if (document.activeElement !== sel) sel.value = current || '';
  }

  views.instances = {
    nav: 'instances',
    mount(main) {
      const v = { body: el('div', { class: 'card-body flush' }) };
      replace(main, page('Instances', 'Live members of the cluster; the leader does housekeeping, any instance fires ticks.'), card(null, v.body));
      return v;
    },
    async update(v, alive) {
      const inst = await api('GET', 'instances');
      if (!alive()) return;
      if (!inst.instances.length) {
        replace(v.body, empty('No live instances', 'Instances register in etcd when their scheduler starts.'));
        return;
      }
      replace(v.body, el('div', { class: 'table-wrap' }, el('table', {},
        el('thead', {}, el('tr', {}, ['Instance', 'Host', 'PID', 'Version', 'Tags', 'Up', 'Jobs'].map((h) => el('th', { text: h })))),
        el('tbody', {}, inst.instances.map((i) => el('tr', { 'data-instance': i.id, 'data-leader': i.leader ? 'true' : 'false' },
          el('td', {}, el('strong', { text: i.id }), ' ', i.leader ? badge('leader', '★ leader', 'This instance is the leader') : null,
            i.id === state.info.instance ? el('span', { class: 'faint', text: ' · serving this console' }) : null),
          el('td', { text: i.host }),
          el('td', { class: 'mono', text: i.pid }),
          el('td', { class: 'mono', text: i.version }),
          el('td', {}, (i.tags || []).length ? i.tags.map((t) => el('span', { class: 'tag', text: t })) : el('span', { class: 'faint', text: '—' })),
          el('td', { class: 'nowrap', title: i.started }, span((now() - ms(i.started)) / 1000)),
          el('td', { title: (i.jobs || []).join(', ') }, num(i.job_count), el('div', { class: 'sub-line', text: (i.jobs || []).slice(0, 4).join(', ') + ((i.jobs || []).length > 4 ? ', …' : '') }))))))));
    },
  };

  views.define = {
    nav: 'jobs',
    poll: false,
    mount(main, route) {
      const editing = !!route.name;
      const v = { editing, base: {}, kind: 'shell' };
      const f = {
        name: el('input', { type: 'text', id: 'f-name', placeholder: 'nightly-backup', autocomplete: 'off', spellcheck: 'false', disabled: editing, value: route.name || '' }),
        schedule: el('input', { type: 'text', id: 'f-schedule', class: 'mono', placeholder: '*/5 * * * *', autocomplete: 'off', spellcheck: 'false' }),
        location: el('input', { type: 'text', id: 'f-location', placeholder: 'UTC', autocomplete: 'off', spellcheck: 'false' }),
        command: el('textarea', { id: 'f-command', rows: 3, placeholder: 'pg_dump mydb | gzip > /backups/db.sql.gz', spellcheck: 'false' }),
        dir: el('input', { type: 'text', id: 'f-dir', placeholder: '/srv/app (optional)' }),
        env: el('textarea', { id: 'f-env', rows: 2, placeholder: 'KEY=value, one per line (optional)', spellcheck: 'false' }),
        method: el('select', { id: 'f-method' }, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'].map((m) => el('option', { value: m, text: m }))),
        url: el('input', { type: 'text', id: 'f-url', placeholder: 'https://example.com/hooks/report' }),
        expect: el('input', { type: 'text', id: 'f-expect', placeholder: 'any 2xx' }),
        headers: el('textarea', { id: 'f-headers', rows: 2, placeholder: 'Name: value, one per line (optional)', spellcheck: 'false' }),
        body: el('textarea', { id: 'f-body', rows: 3, placeholder: 'Request body (optional)', spellcheck: 'false' }),
        timeout: el('input', { type: 'text', id: 'f-timeout', placeholder: 'e.g. 5m (default: none)' }),
        overlap: el('select', { id: 'f-overlap' },
          el('option', { value: 'allow', text: 'allow: start every tick' }),
          el('option', { value: 'forbid', text: 'forbid: skip a tick while a run is in progress' }),
          el('option', { value: 'replace', text: 'replace: kill the run in progress, then start' })),
        paused: el('input', { type: 'checkbox', id: 'f-paused' }),
      };
      v.f = f;
      const errBox = el('div', { class: 'error-box', id: 'f-error', hidden: true });
      const preview = el('pre', { class: 'json', id: 'f-preview' });
      const kindBtns = {
        shell: el('button', { type: 'button', 'data-kind': 'shell', onclick: () => setKind('shell') }, 'Shell command'),
        http: el('button', { type: 'button', 'data-kind': 'http', onclick: () => setKind('http') }, 'HTTP request'),
      };
      const shellRows = [
        el('label', { for: 'f-command', text: 'Command' }),
        el('div', { class: 'field' }, f.command, el('span', { class: 'hint' }, 'Runs with ', el('code', { text: '/bin/sh -c' }), ' in its own process group; output is kept with the run. Shell jobs defined here run only on instances started with ', el('code', { text: 'distcron.WithRemoteShell(true)' }), '; other instances list them as refused.')),
        el('label', { for: 'f-dir', text: 'Working directory' }), el('div', { class: 'field' }, f.dir),
        el('label', { for: 'f-env', text: 'Environment' }), el('div', { class: 'field' }, f.env, redactedHint()),
      ];
      const httpRows = [
        el('label', { for: 'f-url', text: 'Request' }),
        el('div', { class: 'field' }, el('div', { class: 'inline' }, f.method, f.url),
          el('span', { class: 'hint' }, 'HTTP jobs defined here run only on instances started with ', el('code', { text: 'distcron.WithRemoteHTTP(hosts...)' }), '.')),
        el('label', { for: 'f-expect', text: 'Expected status' }), el('div', { class: 'field' }, f.expect),
        el('label', { for: 'f-headers', text: 'Headers' }), el('div', { class: 'field' }, f.headers, redactedHint()),
        el('label', { for: 'f-body', text: 'Body' }), el('div', { class: 'field' }, f.body),
      ];
      const submit = el('button', { type: 'submit', class: 'primary', id: 'f-submit', disabled: !canMutate(), title: canMutate() ? '' : whyNot() },
        editing ? 'Save changes' : 'Create job');
      const form = el('form', { class: 'form', id: 'define-form', novalidate: true },
        canMutate() ? null : el('div', { class: 'note-box full' }, whyNot() + '. The form shows the JSON a job needs, but cannot save it.'),
        errBox,
        el('label', { for: 'f-name', text: 'Name' }),
        el('div', { class: 'field' }, f.name, el('span', { class: 'hint', text: 'Letters, digits and . _ : @ -, starting with a letter or digit.' })),
        el('label', { text: 'Kind' }), el('div', { class: 'field' }, el('div', { class: 'segmented' }, kindBtns.shell, kindBtns.http)),
        el('label', { for: 'f-schedule', text: 'Schedule' }),
        el('div', { class: 'field' }, f.schedule, el('span', { class: 'hint' }, 'Cron spec: ', el('code', { text: '*/5 * * * *' }), ', ',
          el('code', { text: '0 7 * * MON-FRI' }), ', 6 fields with seconds, ', el('code', { text: '@hourly' }), ' or ', el('code', { text: '@every 30s' }), '.')),
        el('label', { for: 'f-location', text: 'Time zone' }), el('div', { class: 'field' }, f.location, el('span', { class: 'hint', text: 'IANA zone such as Europe/Berlin; empty: the instances\' default (UTC unless configured).' })),
        shellRows, httpRows,
        el('label', { for: 'f-timeout', text: 'Timeout' }), el('div', { class: 'field' }, f.timeout),
        el('label', { for: 'f-overlap', text: 'Overlap' }), el('div', { class: 'field' }, f.overlap),
        el('label', { for: 'f-paused', text: 'Paused' }), el('div', { class: 'field' }, el('label', {}, f.paused, ' Start paused (no scheduled runs until resumed)')),
        el('div', { class: 'submit' }, submit, el('a', { class: 'btn', href: editing ? '#/jobs/' + enc(route.name) : '#/jobs', text: 'Cancel' })));

      const setKind = (k) => {
        v.kind = k;
        kindBtns.shell.classList.toggle('on', k === 'shell');
        kindBtns.http.classList.toggle('on', k === 'http');
        for (const e of shellRows) e.hidden = k !== 'shell';
        for (const e of httpRows) e.hidden = k !== 'http';
        update();
      };
      const update = () => {
        preview.textContent = JSON.stringify(build(), null, 2);
      };
      const build = () => {
        const d = Object.assign({}, v.base);
        d.name = f.name.value.trim();
        d.kind = v.kind;
        d.schedule = f.schedule.value.trim();
        setOpt(d, 'location', f.location.value.trim());
        setOpt(d, 'timeout', f.timeout.value.trim());
        setOpt(d, 'overlap', f.overlap.value === 'allow' ? '' : f.overlap.value);
        setOpt(d, 'paused', f.paused.checked);
        if (v.kind === 'shell') {
          delete d.http;
          const sh = Object.assign({}, v.base.shell || {});
          sh.command = f.command.value;
          setOpt(sh, 'dir', f.dir.value.trim());
          setOpt(sh, 'env', lines(f.env.value));
          d.shell = sh;
        } else {
          delete d.shell;
          const h = { method: f.method.value, url: f.url.value.trim() };
          const exp = f.expect.value.trim();
          if (exp) h.expect_status = /^\d+$/.test(exp) ? Number(exp) : exp;
          const hdrs = {};
          for (const line of lines(f.headers.value)) {
            const i = line.indexOf(':');
            if (i > 0) hdrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
            else hdrs[line] = '';
          }
          if (Object.keys(hdrs).length) h.headers = hdrs;
          setOpt(h, 'body', f.body.value);
          d.http = h;
        }
        return d;
      };
      form.addEventListener('input', update);
      form.addEventListener('change', update);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        errBox.hidden = true;
        submit.disabled = true;
        const d = build();
        try {
          if (editing) await api('PUT', 'jobs/' + enc(route.name), d);
          else await api('POST', 'jobs', d);
          toast((editing ? 'Saved ' : 'Created ') + d.name);
          location.hash = '#/jobs/' + enc(d.name);
        } catch (e) {
          const why = e.status === 403 ? 'Not allowed. ' : e.status === 409 ? 'Name taken. ' : 'The definition was not accepted. ';
          replace(errBox, el('strong', { text: why }), e.message);
          errBox.hidden = false;
          submit.disabled = !canMutate();
        }
      });

      replace(main,
        el('div', { class: 'crumbs' }, el('a', { href: '#/jobs', text: 'Jobs' }), ' / ', editing ? route.name : 'new'),
        page(editing ? 'Edit ' + route.name : 'New job', 'Stored in etcd; every instance picks it up within moments.'),
        el('div', { class: 'grid side' },
          card(null, form),
          el('div', {}, card('Definition (JSON)', el('div', { class: 'card-body' }, preview,
            el('p', { class: 'hint muted' }, 'The same JSON works with ', el('code', { text: editing ? 'PUT api/jobs/' + route.name : 'POST api/jobs' }), '.'))))));
      setKind('shell');

      if (editing) {
        api('GET', 'jobs/' + enc(route.name)).then((j) => {
          const d = j.definition;
          if (!d) throw new APIError(404, 'job ' + route.name + ' has no definition to edit');
          v.base = JSON.parse(JSON.stringify(d));
          f.schedule.value = d.schedule || '';
          f.location.value = d.location || '';
          f.timeout.value = d.timeout || '';
          f.overlap.value = d.overlap || 'allow';
          f.paused.checked = !!d.paused;
          if (d.shell) {
            f.command.value = d.shell.command || '';
            f.dir.value = d.shell.dir || '';
            f.env.value = (d.shell.env || []).join('\n');
          }
          if (d.http) {
            f.method.value = d.http.method || 'GET';
            f.url.value = d.http.url || '';
            f.expect.value = d.http.expect_status || '';
            f.headers.value = Object.entries(d.http.headers || {}).map(([k, x]) => k + ': ' + x).join('\n');
            f.body.value = d.http.body || '';
          }
          setKind(d.kind === 'http' ? 'http' : 'shell');
        }).catch((e) => {
          replace(errBox, el('strong', { text: 'Cannot edit. ' }), e.message);
          errBox.hidden = false;
        });
      }
      return v;
    },
  };

  // redactedHint explains the secret values the API never shows.
  function redactedHint() {
    return el('span', { class: 'hint' }, 'Values are write-only: the console shows them as ', el('code', { text: REDACTED }),
      ', and saving ', el('code', { text: REDACTED }), ' keeps the stored value. Type a new value to replace one.');
  }

  function setOpt(o, k, val) {
    if (val === '' || val === false || (Array.isArray(val) && !val.length)) delete o[k];
    else o[k] = val;
  }
  const lines = (s) => s.split('\n').map((x) => x.trim()).filter(Boolean);

  views.notfound = {
    nav: '',
    poll: false,
    mount(main) {
      replace(main, card(null, empty('Page not found', el('a', { href: '#/', text: 'Go to the dashboard' }))));
      return {};
    },
  };

  // ---------- routing and polling ----------

  function parseRoute() {
    const h = location.hash.replace(/^#/, '') || '/';
    const [path, query] = h.split('?');
    const parts = path.split('/').filter(Boolean).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch (_) {
        return p;
      }
    });
    const r = { query: query || '', hash: location.hash || '#/' };
    if (!parts.length) return Object.assign(r, { view: 'dashboard' });
    if (parts[0] === 'jobs' && parts[1]) return Object.assign(r, { view: 'job', name: parts[1] });
    if (parts[0] === 'edit' && parts[1]) return Object.assign(r, { view: 'define', name: parts[1] });
    if (parts[0] === 'new') return Object.assign(r, { view: 'define' });
    if (views[parts[0]] && parts[0] !== 'job' && parts[0] !== 'define') return Object.assign(r, { view: parts[0] });
    return Object.assign(r, { view: 'notfound' });
  }

  async function loadInfo() {
    const info = await api('GET', 'info');
    state.skew = Date.parse(info.time) - Date.now();
    const changed = !state.info || state.info.can_mutate !== info.can_mutate || state.info.can_read !== info.can_read ||
      state.info.history !== info.history;
    state.info = info;
    renderChrome();
    return changed;
  }

  function renderChrome() {
    const info = state.info;
    const mode = $('#mode');
    mode.hidden = info.can_mutate && info.can_read;
    mode.textContent = !info.can_read ? 'signed out' : info.read_only ? 'read-only' : 'view only';
    mode.title = info.can_read ? whyNot() : whyNotRead();
    const banner = $('#banner');
    // A token may help when reads are refused, or when changes could be
    // allowed but are not.
    const kind = !info.can_read ? 'read' : !info.read_only && !info.can_mutate ? 'token' : '';
    if (kind) {
      if (banner.dataset.kind !== kind) {
        const input = el('input', { type: 'password', placeholder: 'Access token', id: 'token', autocomplete: 'off' });
        const msg = kind === 'read'
          ? el('span', {}, el('strong', { text: 'Sign in. ' }), whyNotRead() + '.')
          : el('span', {}, el('strong', { text: 'View only. ' }), whyNot() + '.');
        replace(banner, msg,
          el('form', {
            class: 'actions',
            onsubmit: (e) => {
              e.preventDefault();
              state.token = input.value.trim();
              sessionStorage.setItem('distcron.token', state.token);
              banner.dataset.kind = '';
              refresh(true);
            },
          }, input, el('button', { type: 'submit', text: 'Use token' })));
        banner.dataset.kind = kind;
      }
      banner.hidden = false;
    } else {
      banner.hidden = true;
      banner.dataset.kind = '';
    }
  }

  function setLive(ok, err) {
    const live = $('#live');
    live.classList.toggle('ok', ok);
    live.classList.toggle('err', !ok);
    $('#live-text').textContent = ok
      ? 'Live · ' + new Date().toLocaleTimeString([], { hour12: false })
      : 'Connection problem: ' + (err && err.message ? err.message : 'unreachable') + ' · retrying';
  }

  function navigate() {
    state.seq++;
    clearTimeout(state.timer);
    const route = parseRoute();
    const view = views[route.view];
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.nav === view.nav);
    state.view = { view, route, ctx: null };
    refresh(true);
  }

  // refresh updates the current view now, then every POLL_MS.
  async function refresh(remount) {
    clearTimeout(state.timer);
    const seq = state.seq;
    const alive = () => seq === state.seq;
    const cur = state.view;
    try {
      const changed = await loadInfo();
      if (!alive()) return;
      if (!canRead()) {
        // Nothing but api/info answers: show why, ask for a token (the
        // banner), and check again every POLL_MS.
        if (!cur.locked) {
          cur.locked = true;
          cur.ctx = null;
          replace($('#main'), card(null, el('div', { id: 'locked' }, empty('Sign in to view this cluster', whyNotRead() + '.',
            'The host app protects the jobs, their definitions, the run history and the instances. Enter an access token above.'))));
        }
        setLive(true);
        document.body.dataset.route = cur.route.hash;
        state.timer = setTimeout(() => refresh(), POLL_MS);
        return;
      }
      if (cur.locked) {
        cur.locked = false;
        remount = true;
      }
      if (remount || !cur.ctx || (changed && cur.view.poll === false)) {
        cur.ctx = cur.view.mount($('#main'), cur.route);
      }
      if (cur.view.update && !document.hidden) await cur.view.update(cur.ctx, alive);
      if (alive()) {
        setLive(true);
        document.body.dataset.route = cur.route.hash; // for tests: this route is on screen
      }
    } catch (e) {
      if (alive()) setLive(false, e);
    }
    if (alive() && cur.view.poll !== false) state.timer = setTimeout(() => refresh(), POLL_MS);
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.view && state.view.view.poll !== false) refresh();
  });
  window.addEventListener('hashchange', navigate);
  navigate();
})();
