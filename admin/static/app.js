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
    armed: new Map(), // confirm button key -> armed until (ms)
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
    if (j.paused) return badge('paused', 'paused');
    const others = elsewhere(j);
    if (!j.local) {
      return others.length
        ? badge('scheduled', 'runs on ' + others.join(', '), 'Registered in code on ' + others.join(', ') + '; this instance does not have it')
        : badge('plain', 'no live instance', 'No live instance registers this job now');
    }
    // Refused here is no problem when other instances run it.
    if (j.refused && others.length) return badge('scheduled', 'runs on ' + others.join(', '), 'Not on this instance: ' + clean(j.refused));
    if (j.refused) return badge('refused', 'refused here', clean(j.refused));
    if (!j.next_runs || !j.next_runs.length) return badge('plain', 'no more runs');
    return badge('scheduled', 'scheduled', j.eligible ? '' : 'This instance lacks the required tags; other instances run it');
  }

  // elsewhere lists the other live instances that run the job.
  function elsewhere(j) {
    return (j.instances || []).filter((id) => !state.info || id !== state.info.instance);
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
    const running = j.running && j.running.length > 0;
    return [
      actionButton(j.name, 'trigger', { small, disabled: j.paused, why: 'Paused: resume it to run it now' }),
      j.paused ? actionButton(j.name, 'resume', { small }) : actionButton(j.name, 'pause', { small }),
      actionButton(j.name, 'kill', { small, disabled: !running, why: 'Nothing running' }),
    ];
  }

  // deleteButton asks for a second click instead of a dialog.
  function deleteButton(name, override) {
    let armed = false;
    let timer = 0;
    const btn = el('button', {
      class: 'danger', 'data-action': 'delete', disabled: !canMutate(),
      title: canMutate() ? (override ? 'Delete the override: the schedule registered in code applies again' : 'Delete this job definition') : whyNot(),
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

  // killRunButton kills one run in progress, after a second click. Armed
  // buttons stay armed across the page's redraws (state.armed).
  function killRunButton(r) {
    const key = 'kill-run:' + r.id;
    const armed = () => (state.armed.get(key) || 0) > Date.now();
    const label = 'Kill run';
    const btn = el('button', {
      class: 'danger small' + (armed() ? ' confirm' : ''), 'data-action': 'kill-run', 'data-run': r.id, disabled: !canMutate(),
      title: canMutate() ? 'Kill this run only; other runs of ' + r.job + ' go on' : whyNot(),
      onclick: async (ev) => {
        ev.stopPropagation();
        if (!armed()) {
          state.armed.set(key, Date.now() + 4000);
          btn.textContent = 'Click again to kill';
          btn.classList.add('confirm');
          setTimeout(() => {
            if (armed()) return;
            btn.textContent = label;
            btn.classList.remove('confirm');
          }, 4100);
          return;
        }
        state.armed.delete(key);
        btn.disabled = true;
        try {
          await api('POST', 'running/' + enc(r.id) + '/kill');
          toast('Kill of one run of ' + r.job + ' (on ' + r.instance + ') requested');
        } catch (e) {
          toast('Kill run of ' + r.job + ': ' + e.message, true);
        }
        refresh();
      },
    }, armed() ? 'Click again to kill' : label);
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
        else if (f.length) replace(body, empty('No runs match', 'Nothing recorded for ' + f.map(([k, v]) => k + ' = ' + ((k === 'since' || k === 'until') && !isNaN(ms(v)) ? fmtAbs(v) : v)).join(', ') + '.'));
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
          el('th', { text: 'Status' }), el('th', { text: 'Runs on' }), sum ? el('th', { text: 'Last 24h' }) : null, el('th', { class: 'right', text: 'Actions' }))),
        el('tbody', {}, list.map((j) => {
          const s = byJob.get(j.name);
          const next = j.next_runs && j.next_runs[0];
          return el('tr', { 'data-job': j.name, 'data-paused': j.paused ? 'true' : 'false', 'data-running': String(j.running.length),
            'data-local': j.local ? 'true' : 'false', 'data-instances': (j.instances || []).join(',') },
            el('td', {}, el('a', { class: 'name', href: '#/jobs/' + enc(j.name), text: j.name }),
              el('div', { class: 'sub-line' }, j.kind ? el('span', { class: 'kind', text: j.kind }) : null, j.source ? ' · ' + j.source : '')),
            el('td', {}, el('code', { text: j.schedule || '—' }), el('div', { class: 'sub-line', text: j.location || '' })),
            el('td', { class: 'nowrap', title: next || '' }, next && !j.paused ? rel(next) : el('span', { class: 'faint', text: j.paused ? 'paused' : '—' }),
              next && !j.paused ? el('div', { class: 'sub-line', text: fmtAbs(next) }) : null),
            el('td', {}, jobState(j)),
            el('td', { class: 'where' }, j.instances.length
              ? j.instances.map((i) => el('span', { class: 'tag' + (i === state.info.instance ? ' here' : ''), title: i === state.info.instance ? 'This instance' : '', text: i }))
              : el('span', { class: 'faint', text: '—' })),
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
      const editable = j.definition && ['shell', 'http', 'pipeline', ''].includes(j.definition.kind || '');
      // A job registered in code (here or elsewhere) without a definition
      // may get a schedule override.
      const overridable = !j.definition && j.source === 'code';
      replace(v.head, page(j.name, jobState(j),
        el('div', { class: 'actions' }, jobActions(j, false),
          editable ? el('a', { class: 'btn', href: '#/edit/' + enc(j.name), id: 'edit-job' }, j.definition.kind ? 'Edit' : 'Edit override') : null,
          overridable ? el('a', { class: 'btn', href: '#/edit/' + enc(j.name), id: 'override-job', title: 'Override its schedule, zone or pause through a definition; deleting the definition restores the code\'s schedule' }, 'Override schedule') : null,
          j.definition ? deleteButton(j.name, !j.definition.kind) : null)));

      replace(v.running, j.running.length
        ? card('Running now', el('div', { class: 'card-body flush' }, el('table', {},
          el('thead', {}, el('tr', {}, ['Instance', 'Started', 'Tick', 'Trigger', 'Shard', 'Token', ''].map((h) => el('th', { text: h })))),
          el('tbody', {}, j.running.map((r) => el('tr', { 'data-running-on': r.instance, 'data-run-id': r.id },
            el('td', {}, badge('running', r.instance)), el('td', { text: rel(r.claimed) }), el('td', { text: fmtAbs(r.tick) }),
            el('td', {}, r.trigger, r.attempt > 1 ? el('span', { class: 'faint', text: ' · attempt ' + r.attempt }) : null),
            el('td', { class: 'num', text: j.shards || j.running.some((x) => x.shard > 0) ? r.shard : '—' }), el('td', { class: 'mono', text: r.token }),
            el('td', { class: 'right' }, killRunButton(r))))))))
        : null);

      const kv = [
        ['Schedule', el('code', { text: j.schedule || '—' })],
        ['Time zone', j.location || '—'],
        ['Kind', j.kind || '—'],
        ['Source', !j.local && j.source === 'code' ? 'code, on other instances' : j.source || '—'],
        ['Overlap', j.overlap || '—'],
      ];
      if (j.shards) kv.push(['Shards', j.shards]);
      if (j.broadcast) kv.push(['Broadcast', 'every eligible instance']);
      if (j.tags && j.tags.length) kv.push(['Requires tags', j.tags.map((t) => el('span', { class: 'tag', text: t }))]);
      if (j.refused && elsewhere(j).length) kv.push(['Not here', el('span', { class: 'muted', text: clean(j.refused) + ' (other instances run it)' })]);
      else if (j.refused) kv.push(['Refused here', el('span', { class: 'rate bad', text: clean(j.refused) })]);
      if (j.last) {
        kv.push(['Last run here', [badge(j.last.status),
          el('span', { title: j.last.tick, text: ' ' + fmtAbs(j.last.tick) + ' · ' + rel(j.last.finished) + ' · ' + j.last.instance })]]);
      }
      kv.push(['Runs on', j.instances.length ? j.instances.map((i) => el('span', { class: 'tag', text: i })) : '—']);
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

  // Time ranges of the runs view: a preset is a duration before now (the
  // API's since=24h), custom is two times.
  const RANGES = [['', 'Any time'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'], ['168h', 'Last 7 days'], ['custom', 'Custom range…']];

  // localInput is a time as a datetime-local input's value (browser time).
  function localInput(t) {
    const d = new Date(t);
    if (isNaN(d)) return '';
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  }
  // fromInput is a datetime-local value as RFC 3339 (UTC), or ''.
  function fromInput(v) {
    if (!v) return '';
    const d = new Date(v);
    return isNaN(d) ? '' : d.toISOString();
  }

  views.runs = {
    nav: 'runs',
    mount(main, route) {
      const p = new URLSearchParams(route.query);
      const filters = { job: p.get('job') || '', status: p.get('status') || '', instance: p.get('instance') || '', since: p.get('since') || '', until: p.get('until') || '' };
      const list = RunList({ filters, limit: 50 });
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
      const rangeSel = el('select', { id: 'runs-range' }, RANGES.map(([val, text]) => el('option', { value: val, text })));
      const preset = !filters.until && RANGES.some(([val]) => val && val !== 'custom' && val === filters.since);
      rangeSel.value = !filters.since && !filters.until ? '' : preset ? filters.since : 'custom';
      const sinceIn = el('input', { type: 'datetime-local', id: 'runs-since', 'aria-label': 'From', value: preset ? '' : localInput(filters.since) });
      const untilIn = el('input', { type: 'datetime-local', id: 'runs-until', 'aria-label': 'Until', value: localInput(filters.until) });
      const custom = el('span', { class: 'range', id: 'runs-custom', hidden: rangeSel.value !== 'custom' },
        el('label', {}, 'From', sinceIn), el('label', {}, 'until', untilIn));
      const changed = () => {
        const range = rangeSel.value;
        custom.hidden = range !== 'custom';
        const since = range === 'custom' ? fromInput(sinceIn.value) : range;
        const until = range === 'custom' ? fromInput(untilIn.value) : '';
        list.filters = { job: v.jobSel.value, status: statusSel.value, instance: v.instSel.value, since, until };
        list.open.clear();
        const q = new URLSearchParams(Object.entries(list.filters).filter(([, x]) => x));
        history.replaceState(null, '', '#/runs' + (q.toString() ? '?' + q : ''));
        refresh();
      };
      for (const s of [v.jobSel, statusSel, v.instSel, rangeSel, sinceIn, untilIn]) s.addEventListener('change', changed);
      replace(main,
        page('Runs', 'Run history of the whole cluster, newest first. Click a run for its output.'),
        card(null, [el('div', { class: 'toolbar' }, el('label', {}, 'Job', v.jobSel), el('label', {}, 'Status', statusSel),
          el('label', {}, 'Instance', v.instSel), el('label', {}, 'Time', rangeSel), custom), list.el]));
      return v;
    },
    async update(v, alive) {
      const [jobs, inst] = await Promise.all([api('GET', 'jobs'), api('GET', 'instances'), v.list.load(alive)]);
      if (!alive()) return;
      fillSelect(v.jobSel, 'All jobs', jobs.jobs.map((j) => j.name), v.list.filters.job);
      const ids = [...new Set(inst.instances.map((i) => i.id).concat((inst.departed || []).map((d) => d.instance.id)))].sort();
      fillSelect(v.instSel, 'All instances', ids, v.list.filters.instance);
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

  const REASONS = {
    stopped: ['plain', 'stopped', 'It left by Stop: a clean shutdown'],
    expired: ['lost', 'lease expired', 'Its etcd lease expired without a Stop: the process crashed or was killed, or it lost etcd past its session TTL'],
    gone: ['plain', 'gone', 'Its registration is gone; how it left is not known'],
  };

  views.instances = {
    nav: 'instances',
    mount(main) {
      const v = { body: el('div', { class: 'card-body flush' }), departed: el('div') };
      replace(main, page('Instances', 'Live members of the cluster; the leader does housekeeping, any instance fires ticks.'), card(null, v.body), v.departed);
      return v;
    },
    async update(v, alive) {
      const inst = await api('GET', 'instances');
      if (!alive()) return;
      const yes = (on, what) => on
        ? el('span', { class: 'tag', title: 'Runs ' + what + ' jobs defined through etcd or this console', text: what })
        : null;
      if (!inst.instances.length) {
        replace(v.body, empty('No live instances', 'Instances register in etcd when their scheduler starts.'));
      } else {
        replace(v.body, el('div', { class: 'table-wrap' }, el('table', {},
          el('thead', {}, el('tr', {}, ['Instance', 'Host', 'PID', 'Version', 'Tags', 'Up', 'Clock', 'Running', 'Remote jobs', 'Jobs'].map((h) => el('th', { text: h })))),
          el('tbody', {}, inst.instances.map((i) => el('tr', {
            'data-instance': i.id, 'data-leader': i.leader ? 'true' : 'false', 'data-running': String(i.running || 0),
            'data-remote-shell': String(!!i.remote_shell), 'data-remote-http': String(!!i.remote_http),
          },
          el('td', {}, el('strong', { text: i.id }), ' ', i.leader ? badge('leader', '★ leader', 'This instance is the leader') : null,
            i.id === state.info.instance ? el('span', { class: 'faint', text: ' · serving this console' }) : null),
          el('td', { text: i.host }),
          el('td', { class: 'mono', text: i.pid }),
          el('td', { class: 'mono', text: i.version }),
          el('td', {}, (i.tags || []).length ? i.tags.map((t) => el('span', { class: 'tag', text: t })) : el('span', { class: 'faint', text: '—' })),
          el('td', { class: 'nowrap', title: i.started }, span((now() - ms(i.started)) / 1000)),
          el('td', { class: 'nowrap', 'data-clock-offset': i.clock ? String(i.clock.offset) : '' }, clockCell(i.clock)),
          el('td', { class: 'num' }, i.running ? badge('running', String(i.running), i.running + ' runs in progress on ' + i.id) : el('span', { class: 'faint', text: '0' })),
          el('td', {}, yes(i.remote_shell, 'shell'), yes(i.remote_http, 'http'), !i.remote_shell && !i.remote_http
            ? el('span', { class: 'faint', title: 'Runs only jobs registered in its code (and schedule overrides)', text: 'none' }) : null),
          el('td', { title: (i.jobs || []).join(', ') }, num(i.job_count), el('div', { class: 'sub-line', text: (i.jobs || []).slice(0, 4).join(', ') + ((i.jobs || []).length > 4 ? ', …' : '') }))))))));
      }
      const gone = inst.departed || [];
      replace(v.departed, gone.length
        ? card('Left recently', el('div', { class: 'card-body flush' }, el('div', { class: 'table-wrap' }, el('table', {},
          el('thead', {}, el('tr', {}, ['Instance', 'How', 'Gone', 'Host', 'PID', 'Version', 'Was up'].map((h) => el('th', { text: h })))),
          el('tbody', {}, gone.map((d) => {
            const [cls, text, title] = REASONS[d.reason] || REASONS.gone;
            const i = d.instance;
            return el('tr', { 'data-departed': i.id, 'data-reason': d.reason },
              el('td', {}, el('strong', { text: i.id })),
              el('td', {}, badge(cls, text, title)),
              el('td', { class: 'nowrap', title: d.gone }, rel(d.gone), el('div', { class: 'sub-line', text: fmtAbs(d.gone) })),
              el('td', { text: i.host || '—' }),
              el('td', { class: 'mono', text: i.pid || '—' }),
              el('td', { class: 'mono', text: i.version || '—' }),
              el('td', { class: 'nowrap' }, i.started ? span((ms(d.gone) - ms(i.started)) / 1000) : '—'));
          }))))), el('span', { class: 'sub-line', text: 'as this instance saw them, last hour' }))
        : null);
    },
  };

  // clockCell shows an instance's estimated offset from the cluster's
  // median clock (nanoseconds in the API), its error bound, and whether the
  // instance schedules on the median clock because of it.
  function clockCell(c) {
    if (!c || !c.peers) return el('span', { class: 'faint', title: 'No estimate yet (alone, or just started)', text: '—' });
    const msOf = (ns) => ns / 1e6;
    const fmt = (ns) => (ns > 0 ? '+' : ns < 0 ? '−' : '') + (Math.abs(ns) >= 1e9 ? (Math.abs(ns) / 1e9).toFixed(2) + ' s' : Math.abs(msOf(ns)).toFixed(1) + ' ms');
    const skewed = Math.abs(c.offset) - c.error > 500e6;
    const title = 'Clock minus the cluster\'s median clock, estimated through etcd from ' + c.peers + ' peer(s), ± ' + msOf(c.error).toFixed(1) + ' ms' +
      (c.correction ? '; this instance schedules on the median clock (shifted by ' + fmt(c.correction) + ')' : '');
    return el('span', { title },
      skewed ? badge('failed', fmt(c.offset), title) : el('span', { class: 'mono', text: fmt(c.offset) }),
      el('div', { class: 'sub-line', text: '± ' + msOf(c.error).toFixed(1) + ' ms' + (c.correction ? ' · following the median' : '') }));
  }

  // The kinds of the define form: a job of its own (shell, http,
  // pipeline), or an override of a job registered in code ('').
  const KINDS = [['shell', 'Shell command'], ['http', 'HTTP request'], ['pipeline', 'Pipeline'], ['override', 'Schedule override']];
  const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

  // fmtZone writes a time as a wall clock in an IANA zone.
  function fmtZone(t, zone) {
    try {
      return new Date(t).toLocaleString('en-GB', {
        timeZone: zone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
      });
    } catch (_) {
      return t;
    }
  }

  // headerLines and parseHeaders convert between {Name: value} and lines.
  const headerLines = (h) => Object.entries(h || {}).map(([k, x]) => k + ': ' + x).join('\n');
  function parseHeaders(text) {
    const out = {};
    for (const line of lines(text)) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      else out[line] = '';
    }
    return out;
  }
  const words = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  const intOf = (s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s.trim());

  views.define = {
    nav: 'jobs',
    poll: false,
    mount(main, route) {
      const editing = !!route.name;
      const v = { editing, kind: 'shell', steps: [], previewSeq: 0, previewTimer: 0, codeSchedule: '' };
      const input = (id, props) => el('input', Object.assign({ type: 'text', id, autocomplete: 'off', spellcheck: 'false' }, props || {}));
      const area = (id, rows, placeholder) => el('textarea', { id, rows, placeholder, spellcheck: 'false' });
      const f = {
        name: input('f-name', { placeholder: 'nightly-backup', disabled: editing, value: route.name || '', list: 'f-code-jobs' }),
        schedule: input('f-schedule', { class: 'mono', placeholder: '*/5 * * * *' }),
        location: input('f-location', { placeholder: 'UTC' }),
        command: area('f-command', 3, 'pg_dump mydb | gzip > /backups/db.sql.gz'),
        args: area('f-args', 2, 'One argument per line: $1, $2, … (optional)'),
        dir: input('f-dir', { placeholder: '/srv/app (optional)', spellcheck: null }),
        env: area('f-env', 2, 'KEY=value, one per line (optional)'),
        method: el('select', { id: 'f-method' }, METHODS.map((m) => el('option', { value: m, text: m }))),
        url: input('f-url', { placeholder: 'https://example.com/hooks/report' }),
        expect: input('f-expect', { placeholder: 'any 2xx' }),
        headers: area('f-headers', 2, 'Name: value, one per line (optional)'),
        body: area('f-body', 3, 'Request body (optional)'),
        timeout: input('f-timeout', { placeholder: 'e.g. 5m (default: none)' }),
        overlap: el('select', { id: 'f-overlap' },
          el('option', { value: 'allow', text: 'allow: start every tick' }),
          el('option', { value: 'forbid', text: 'forbid: skip a tick while a run is in progress' }),
          el('option', { value: 'replace', text: 'replace: kill the run in progress, then start' })),
        misfire: el('select', { id: 'f-misfire' },
          el('option', { value: 'skip', text: 'skip: ticks missed while the whole cluster was down are skipped' }),
          el('option', { value: 'run_once', text: 'run once: one catch-up run if the newest missed tick is recent' })),
        deadline: input('f-deadline', { placeholder: 'e.g. 20s: how late a catch-up may still start' }),
        retries: input('f-retries', { placeholder: '1 (no retry)', inputmode: 'numeric' }),
        backoff: input('f-backoff', { placeholder: 'e.g. 10s' }),
        maxBackoff: input('f-max-backoff', { placeholder: 'e.g. 5m' }),
        tags: input('f-tags', { placeholder: 'gpu, eu-west (optional)' }),
        shards: input('f-shards', { placeholder: '1', inputmode: 'numeric' }),
        broadcast: el('input', { type: 'checkbox', id: 'f-broadcast' }),
        onSuccess: input('f-on-success', { placeholder: 'report, notify (optional)' }),
        onFailure: input('f-on-failure', { placeholder: 'page-oncall (optional)' }),
        rerunLost: el('input', { type: 'checkbox', id: 'f-rerun-lost' }),
        paused: el('input', { type: 'checkbox', id: 'f-paused' }),
      };
      v.f = f;
      const codeJobs = el('datalist', { id: 'f-code-jobs' });
      const errBox = el('div', { class: 'error-box', id: 'f-error', hidden: true });
      const preview = el('pre', { class: 'json', id: 'f-preview' });
      const nextBox = el('div', { class: 'next-preview', id: 'f-next', 'aria-live': 'polite' });
      const stepsBox = el('div', { class: 'steps', id: 'f-steps' });
      const kindBtns = {};
      for (const [k, label] of KINDS) kindBtns[k] = el('button', { type: 'button', 'data-kind': k, onclick: () => setKind(k) }, label);
      const row = (id, label, ...field) => [el('label', { for: id, text: label }), el('div', { class: 'field' }, field)];
      const hint = (...parts) => el('span', { class: 'hint' }, parts);
      const section = (title) => el('div', { class: 'form-section' }, title);

      const shellRows = [
        row('f-command', 'Command', f.command, hint('Runs with ', el('code', { text: '/bin/sh -c' }), ' in its own process group; output is kept with the run. Shell jobs defined here run only on instances started with ', el('code', { text: 'distcron.WithRemoteShell(true)' }), '; other instances list them as refused.')),
        row('f-args', 'Arguments', f.args),
        row('f-dir', 'Working directory', f.dir),
        row('f-env', 'Environment', f.env, redactedHint()),
      ];
      const httpRows = [
        row('f-url', 'Request', el('div', { class: 'inline' }, f.method, f.url),
          hint('HTTP jobs defined here run only on instances started with ', el('code', { text: 'distcron.WithRemoteHTTP(hosts...)' }), '.')),
        row('f-expect', 'Expected status', f.expect),
        row('f-headers', 'Headers', f.headers, redactedHint()),
        row('f-body', 'Body', f.body),
      ];
      const pipelineRows = [
        row('f-steps', 'Steps', stepsBox,
          el('div', { class: 'inline' }, el('button', { type: 'button', id: 'f-add-step', onclick: () => addStep({ kind: 'shell' }) }, '+ Add step')),
          hint('Steps run one after another; the first that fails ends the run. Shell steps need ', el('code', { text: 'WithRemoteShell' }), ', HTTP steps ', el('code', { text: 'WithRemoteHTTP' }), ' on the instance.')),
      ];
      const overrideRows = [
        el('div', { class: 'note-box full', id: 'f-override-note' }, 'A schedule override changes the schedule, zone or pause of a job registered in code, on every instance. Leave the schedule empty to keep the code\'s. Deleting the override restores the job as registered.'),
      ];
      const runRows = [
        section('When a run is due'),
        row('f-overlap', 'Overlap', f.overlap),
        row('f-timeout', 'Timeout', f.timeout),
        row('f-misfire', 'Misfire', f.misfire),
        row('f-deadline', 'Starting deadline', f.deadline, hint('For "run once": a catch-up starts only if the missed tick is at most this old; at most half the instances\' claim retention (30s by default).')),
        section('Retries and chaining'),
        row('f-retries', 'Attempts', el('div', { class: 'inline' }, f.retries, f.backoff, f.maxBackoff),
          hint('Attempts in all (first run included), then the first backoff and its cap; the backoff doubles each time.')),
        row('f-rerun-lost', 'Lost runs', el('label', {}, f.rerunLost, ' Run again elsewhere when the instance running it dies')),
        row('f-on-success', 'On success, run', f.onSuccess, hint('Job names, comma-separated: run once this job succeeds.')),
        row('f-on-failure', 'On failure, run', f.onFailure, hint('Job names, comma-separated: run once this job fails for good (after its retries).')),
        section('Where it runs'),
        row('f-tags', 'Requires tags', f.tags, hint('Only instances with all these tags (distcron.WithTags) run it.')),
        row('f-shards', 'Shards', el('div', { class: 'inline' }, f.shards, el('label', {}, f.broadcast, ' Broadcast: every eligible instance runs each tick')),
          hint('Shards n: each tick runs n times, once per shard (1 to 100). Broadcast and shards exclude each other.')),
      ];
      const submit = el('button', { type: 'submit', class: 'primary', id: 'f-submit', disabled: !canMutate(), title: canMutate() ? '' : whyNot() },
        editing ? 'Save changes' : 'Create job');
      const form = el('form', { class: 'form', id: 'define-form', novalidate: true },
        canMutate() ? null : el('div', { class: 'note-box full' }, whyNot() + '. The form shows the JSON a job needs, but cannot save it.'),
        errBox,
        row('f-name', 'Name', f.name, codeJobs, hint('Letters, digits and . _ : @ -, starting with a letter or digit.')),
        el('label', { text: 'Kind' }), el('div', { class: 'field' }, el('div', { class: 'segmented' }, KINDS.map(([k]) => kindBtns[k]))),
        overrideRows,
        row('f-schedule', 'Schedule', f.schedule, hint('Cron spec: ', el('code', { text: '*/5 * * * *' }), ', ',
          el('code', { text: '0 7 * * MON-FRI' }), ', 6 fields with seconds, ', el('code', { text: '@hourly' }), ' or ', el('code', { text: '@every 30s' }), '.'), nextBox),
        row('f-location', 'Time zone', f.location, hint('IANA zone such as Europe/Berlin; empty: the instances\' default (UTC unless configured).')),
        shellRows, httpRows, pipelineRows, runRows,
        row('f-paused', 'Paused', el('label', {}, f.paused, ' Paused (no scheduled runs until resumed)')),
        el('div', { class: 'submit' }, submit, el('a', { class: 'btn', href: editing ? '#/jobs/' + enc(route.name) : '#/jobs', text: 'Cancel' })));

      // A pipeline step's editor.
      function addStep(st) {
        const s = {
          name: el('input', { type: 'text', class: 's-name', placeholder: 'step name', value: st.name || '', 'aria-label': 'Step name' }),
          kind: el('select', { class: 's-kind', 'aria-label': 'Step kind' }, el('option', { value: 'shell', text: 'shell' }), el('option', { value: 'http', text: 'http' })),
          command: el('textarea', { class: 's-command', rows: 2, placeholder: 'command', spellcheck: 'false' }),
          env: el('textarea', { class: 's-env', rows: 1, placeholder: 'KEY=value, one per line (optional)', spellcheck: 'false' }),
          method: el('select', { class: 's-method' }, METHODS.map((m) => el('option', { value: m, text: m }))),
          url: el('input', { type: 'text', class: 's-url', placeholder: 'https://…' }),
          headers: el('textarea', { class: 's-headers', rows: 1, placeholder: 'Name: value, one per line (optional)', spellcheck: 'false' }),
          body: el('textarea', { class: 's-body', rows: 1, placeholder: 'body (optional)', spellcheck: 'false' }),
          base: st,
        };
        s.kind.value = st.kind === 'http' ? 'http' : 'shell';
        if (st.shell) {
          s.command.value = st.shell.command || '';
          s.env.value = (st.shell.env || []).join('\n');
        }
        if (st.http) {
          s.method.value = st.http.method || 'GET';
          s.url.value = st.http.url || '';
          s.headers.value = headerLines(st.http.headers);
          s.body.value = st.http.body || '';
        }
        const shellPart = el('div', { class: 'step-part' }, s.command, s.env);
        const httpPart = el('div', { class: 'step-part' }, el('div', { class: 'inline' }, s.method, s.url), s.headers, s.body);
        const show = () => {
          shellPart.hidden = s.kind.value !== 'shell';
          httpPart.hidden = s.kind.value !== 'http';
        };
        s.kind.addEventListener('change', show);
        show();
        s.el = el('div', { class: 'step', 'data-step': '' },
          el('div', { class: 'inline' }, el('span', { class: 'step-no' }), s.name, s.kind,
            el('button', { type: 'button', class: 'small', title: 'Remove this step', onclick: () => {
              v.steps = v.steps.filter((x) => x !== s);
              s.el.remove();
              number();
              update();
            } }, 'Remove')),
          shellPart, httpPart);
        v.steps.push(s);
        stepsBox.append(s.el);
        number();
        update();
      }
      const number = () => v.steps.forEach((s, i) => { s.el.querySelector('.step-no').textContent = (i + 1) + '.'; });

      const setKind = (k) => {
        v.kind = k;
        for (const [x] of KINDS) kindBtns[x].classList.toggle('on', x === k);
        const show = (rows, on) => {
          for (const e of rows.flat()) e.hidden = !on;
        };
        show(shellRows, k === 'shell');
        show(httpRows, k === 'http');
        show(pipelineRows, k === 'pipeline');
        show(runRows, k !== 'override');
        show(overrideRows, k === 'override');
        if (k === 'pipeline' && !v.steps.length) addStep({ kind: 'shell' });
        f.schedule.placeholder = k === 'override' ? (v.codeSchedule || 'empty: the schedule in code') : '*/5 * * * *';
        submit.textContent = editing ? 'Save changes' : k === 'override' ? 'Save override' : 'Create job';
        update();
        schedulePreview();
      };
      const shellOf = (command, env, base) => {
        const sh = { command };
        const args = base === f ? lines(f.args.value) : [];
        if (args.length) sh.args = args;
        if (base === f) setOpt(sh, 'dir', f.dir.value.trim());
        setOpt(sh, 'env', lines(env));
        return sh;
      };
      const httpOf = (method, url, headers, body, expect) => {
        const h = { method, url: url.trim() };
        if (expect) h.expect_status = intOf(expect);
        const hdrs = parseHeaders(headers);
        if (Object.keys(hdrs).length) h.headers = hdrs;
        setOpt(h, 'body', body);
        return h;
      };
      const build = () => {
        const d = { name: f.name.value.trim() };
        const k = v.kind;
        if (k !== 'override') d.kind = k;
        setOpt(d, 'schedule', f.schedule.value.trim());
        setOpt(d, 'location', f.location.value.trim());
        if (k === 'shell') d.shell = shellOf(f.command.value, f.env.value, f);
        if (k === 'http') d.http = httpOf(f.method.value, f.url.value, f.headers.value, f.body.value, f.expect.value.trim());
        if (k === 'pipeline') {
          d.steps = v.steps.map((s) => {
            const st = { name: s.name.value.trim(), kind: s.kind.value };
            if (st.kind === 'shell') st.shell = shellOf(s.command.value, s.env.value, null);
            else st.http = httpOf(s.method.value, s.url.value, s.headers.value, s.body.value, (s.base.http && s.base.http.expect_status) || '');
            return st;
          });
        }
        if (k !== 'override') {
          setOpt(d, 'timeout', f.timeout.value.trim());
          setOpt(d, 'overlap', f.overlap.value === 'allow' ? '' : f.overlap.value);
          setOpt(d, 'misfire', f.misfire.value === 'skip' ? '' : f.misfire.value);
          setOpt(d, 'starting_deadline', f.deadline.value.trim());
          const attempts = f.retries.value.trim();
          if (attempts || f.backoff.value.trim() || f.maxBackoff.value.trim()) {
            d.retry = { max_attempts: intOf(attempts || '1') };
            setOpt(d.retry, 'backoff', f.backoff.value.trim());
            setOpt(d.retry, 'max_backoff', f.maxBackoff.value.trim());
          }
          setOpt(d, 'tags', words(f.tags.value));
          const shards = f.shards.value.trim();
          if (shards) d.shards = intOf(shards);
          setOpt(d, 'broadcast', f.broadcast.checked);
          setOpt(d, 'on_success', words(f.onSuccess.value));
          setOpt(d, 'on_failure', words(f.onFailure.value));
          setOpt(d, 'rerun_lost', f.rerunLost.checked);
        }
        setOpt(d, 'paused', f.paused.checked);
        return d;
      };
      const update = () => {
        preview.textContent = JSON.stringify(build(), null, 2);
      };

      // The next fire times, from the server, as the user types.
      const schedulePreview = () => {
        clearTimeout(v.previewTimer);
        v.previewTimer = setTimeout(showNext, 250);
      };
      async function showNext() {
        const seq = ++v.previewSeq;
        const spec = f.schedule.value.trim() || (v.kind === 'override' ? v.codeSchedule : '');
        const tz = f.location.value.trim();
        if (!spec) {
          nextBox.dataset.state = 'empty';
          replace(nextBox, el('span', { class: 'faint', text: 'Type a schedule to see its next runs.' }));
          return;
        }
        try {
          const p = await api('GET', 'schedule/preview?' + new URLSearchParams({ spec, tz, n: 5 }));
          if (seq !== v.previewSeq) return;
          nextBox.dataset.state = 'ok';
          replace(nextBox, p.next.length
            ? [el('div', { class: 'sub-line', text: 'Next runs (' + p.location + ')' + (f.schedule.value.trim() ? '' : ', as in code') + ':' }),
              el('ol', { class: 'next', id: 'f-next-list' }, p.next.map((t) => el('li', { title: t }, fmtZone(t, p.location), el('span', { class: 'faint', text: ' · ' + rel(t) }))))]
            : el('span', { class: 'muted', text: 'This schedule never fires again.' }));
        } catch (e) {
          if (seq !== v.previewSeq) return;
          nextBox.dataset.state = 'error';
          replace(nextBox, el('span', { class: 'preview-err', id: 'f-next-error' }, e.message));
        }
      }
      f.schedule.addEventListener('input', schedulePreview);
      f.location.addEventListener('input', schedulePreview);

      form.addEventListener('input', update);
      form.addEventListener('change', update);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        errBox.hidden = true;
        submit.disabled = true;
        const d = build();
        if (v.kind === 'override' && v.codeNames && !v.codeNames.has(d.name)) {
          // An override of nothing would be stored and do nothing.
          replace(errBox, el('strong', { text: 'Nothing to override. ' }),
            'No live instance registers a job named “' + d.name + '” in code. A schedule override applies to a job registered in code; pick one from the list, or choose another kind to define a job of its own.');
          errBox.hidden = false;
          submit.disabled = !canMutate();
          return;
        }
        try {
          if (editing || v.kind === 'override') await api('PUT', 'jobs/' + enc(d.name), d);
          else await api('POST', 'jobs', d);
          toast((editing ? 'Saved ' : v.kind === 'override' ? 'Override saved for ' : 'Created ') + d.name);
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

      // Code jobs, for the override's name.
      api('GET', 'jobs').then((jobs) => {
        const names = jobs.jobs.filter((j) => j.source === 'code' || j.source === 'override').map((j) => j.name);
        v.codeNames = new Set(names);
        replace(codeJobs, names.map((n) => el('option', { value: n })));
      }).catch(() => {});

      const kindOf = new URLSearchParams(route.query).get('kind');
      setKind(KINDS.some(([k]) => k === kindOf) ? kindOf : 'shell');

      if (editing) {
        api('GET', 'jobs/' + enc(route.name)).then((j) => {
          const d = j.definition;
          if (!d) {
            if (j.source !== 'code') throw new APIError(404, 'job ' + route.name + ' has no definition to edit');
            // A code job without an override yet.
            v.codeSchedule = j.schedule || '';
            setKind('override');
            return;
          }
          v.codeSchedule = d.kind ? '' : (j.source === 'override' ? '' : j.schedule || '');
          f.schedule.value = d.schedule || '';
          f.location.value = d.location || '';
          f.timeout.value = d.timeout || '';
          f.overlap.value = d.overlap || 'allow';
          f.misfire.value = d.misfire || 'skip';
          f.deadline.value = d.starting_deadline || '';
          if (d.retry) {
            f.retries.value = d.retry.max_attempts || '';
            f.backoff.value = d.retry.backoff && d.retry.backoff !== '0s' ? d.retry.backoff : '';
            f.maxBackoff.value = d.retry.max_backoff && d.retry.max_backoff !== '0s' ? d.retry.max_backoff : '';
          }
          f.tags.value = (d.tags || []).join(', ');
          f.shards.value = d.shards || '';
          f.broadcast.checked = !!d.broadcast;
          f.onSuccess.value = (d.on_success || []).join(', ');
          f.onFailure.value = (d.on_failure || []).join(', ');
          f.rerunLost.checked = !!d.rerun_lost;
          f.paused.checked = !!d.paused;
          if (d.shell) {
            f.command.value = d.shell.command || '';
            f.args.value = (d.shell.args || []).join('\n');
            f.dir.value = d.shell.dir || '';
            f.env.value = (d.shell.env || []).join('\n');
          }
          if (d.http) {
            f.method.value = d.http.method || 'GET';
            f.url.value = d.http.url || '';
            f.expect.value = d.http.expect_status || '';
            f.headers.value = headerLines(d.http.headers);
            f.body.value = d.http.body || '';
          }
          for (const st of d.steps || []) addStep(st);
          setKind(d.kind || 'override');
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
