/// <reference lib="dom" />
/**
 * The `tropos ui` page (bundled by lib/ui/server.ts): runs, a run with its live component graph, plan review with
 * approve / reject, environments, stop and retry. Everything goes through the server's `/api/` forward, with the
 * session token the printed URL carried in its fragment.
 */
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import mermaid from 'mermaid';
import type { Environment } from '../../records/environment';
import type { ComponentRecord, Run, RunDetail } from '../../records/run';

const TOKEN_KEY = 'tropos-session';
const fromFragment = /(?:^|[#&])token=([A-Za-z0-9_-]+)/.exec(location.hash)?.[1];
if (fromFragment) {
  sessionStorage.setItem(TOKEN_KEY, fromFragment);
  history.replaceState(null, '', '#/runs'); // the token leaves the address bar
}
const token = sessionStorage.getItem(TOKEN_KEY) ?? '';

mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', flowchart: { useMaxWidth: true } });

class ApiFailure extends Error {}

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api${path}`, {
    method,
    headers: { 'x-tropos-session': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as { message?: string } & T;
  if (!res.ok) throw new ApiFailure(answer.message ?? `HTTP ${res.status}`);
  return answer;
}

/** Polls a loader every 1.5 s while the view is shown. */
function usePoll<T>(load: () => Promise<T>, key: string): { data?: T; error?: string } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  useEffect(() => {
    let live = true;
    const tick = () =>
      load()
        .then((data) => live && setState({ data }))
        .catch((e: Error) => live && setState((s) => ({ ...s, error: e.message })));
    void tick();
    const timer = setInterval(() => void tick(), 1500);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [key]);
  return state;
}

function useRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/runs');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/runs');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

const ended = (s: string) => s !== 'RUNNING';

function duration(from?: string, to?: string): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

const badge = (status: string) => html`<span class=${`badge s-${status}`} data-status=${status}>${status}</span>`;

function App() {
  const route = useRoute();
  const [path, query] = route.slice(1).split('?') as [string, string | undefined];
  const parts = path.split('/').filter(Boolean);
  let view;
  if (parts[0] === 'run' && parts[1]) view = html`<${RunPage} runId=${decodeURIComponent(parts[1])} />`;
  else if (parts[0] === 'approvals') view = html`<${Approvals} />`;
  else if (parts[0] === 'environments') view = html`<${Environments} />`;
  else view = html`<${Runs} query=${query ?? ''} />`;
  return html`<header>
      <strong>Tropos</strong>
      <a href="#/runs">Runs</a><a href="#/approvals">Approvals</a><a href="#/environments">Environments</a>
    </header>
    <main>${token ? view : html`<p class="error">No session: open the URL <code>tropos ui</code> printed.</p>`}</main>`;
}

function Runs({ query }: { query: string }) {
  const params = new URLSearchParams(query);
  const [filters, setFilters] = useState({
    stack: params.get('stack') ?? '',
    workflow: params.get('workflow') ?? '',
    status: params.get('status') ?? '',
  });
  const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  const { data, error } = usePoll(() => api<{ runs: Run[] }>('GET', `/runs${q.size ? `?${q}` : ''}`), q.toString());
  const workflows = usePoll(() => api<{ workflows: { name: string }[] }>('GET', '/workflows'), 'wf').data;
  const set = (k: keyof typeof filters) => (e: Event) =>
    setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value });
  return html`<h1>Runs</h1>
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <input name="stack" placeholder="stack" value=${filters.stack} onChange=${set('stack')} />
      <select name="workflow" value=${filters.workflow} onChange=${set('workflow')}>
        <option value="">any workflow</option>
        ${(workflows?.workflows ?? []).map((w) => html`<option value=${w.name}>${w.name}</option>`)}
      </select>
      <select name="status" value=${filters.status} onChange=${set('status')}>
        <option value="">any status</option>
        ${['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'].map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
    </form>
    ${error && html`<p class="error">${error}</p>`}
    <table class="runs">
      <thead>
        <tr>
          <th>Run</th>
          <th>Workflow</th>
          <th>Status</th>
          <th>Stack</th>
          <th>Started</th>
          <th>Time</th>
          <th>Reason</th>
        </tr>
      </thead>
      <tbody>
        ${(data?.runs ?? []).map(
          (r) =>
            html`<tr data-run=${r.runId}>
              <td><a href=${`#/run/${encodeURIComponent(r.runId)}`}>${r.runId}</a></td>
              <td>${r.workflow}</td>
              <td>${badge(r.status)}</td>
              <td>${r.stack ?? ''}</td>
              <td>${r.startedAt}</td>
              <td>${duration(r.startedAt, r.endedAt)}</td>
              <td class="reason">${ended(r.status) && r.status !== 'SUCCEEDED' ? (r.error ?? '') : ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${data && data.runs.length === 0 ? html`<p>No runs.</p>` : ''}`;
}

/** The run's component graph as Mermaid: one subgraph per terraform step, each component coloured by its status. */
function graphOf(d: RunDetail): string {
  const steps = [...new Set(d.components.map((c) => c.step))];
  const deps = new Map((d.resolved ?? []).map((r) => [r.component, r.dependsOn]));
  const id = (step: string, c: string) => `n_${step}_${c}`.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['flowchart LR'];
  for (const step of steps) {
    const mine = d.components.filter((c) => c.step === step);
    const names = new Set(mine.map((c) => c.component));
    lines.push(`  subgraph ${id(step, 'step')}["${step}"]`, '  direction LR');
    for (const c of mine)
      lines.push(
        `    ${id(step, c.component)}["${c.component}<br/>${c.status.toLowerCase()} ${duration(c.startedAt, c.endedAt)}"]:::${c.status}`,
      );
    for (const c of mine)
      for (const dep of deps.get(c.component) ?? [])
        if (names.has(dep)) lines.push(`    ${id(step, dep)} --> ${id(step, c.component)}`);
    lines.push('  end');
  }
  lines.push(
    '  classDef SUCCEEDED fill:#d9f2d9,stroke:#2e7d32',
    '  classDef FAILED fill:#fbd5d5,stroke:#c62828',
    '  classDef RUNNING fill:#d6e6fb,stroke:#1565c0',
    '  classDef SKIPPED fill:#eeeeee,stroke:#9e9e9e,color:#616161',
  );
  return lines.join('\n');
}

let diagrams = 0;
function Mermaid({ text }: { text: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let live = true;
    mermaid
      .render(`graph-${++diagrams}`, text)
      .then(({ svg }) => {
        if (live && ref.current) ref.current.innerHTML = svg;
      })
      .catch((e: Error) => {
        if (live && ref.current) ref.current.textContent = `graph: ${e.message}`;
      });
    return () => {
      live = false;
    };
  }, [text]);
  return html`<div class="graph" ref=${ref}></div>`;
}

function RunPage({ runId }: { runId: string }) {
  const { data, error } = usePoll(() => api<RunDetail>('GET', `/runs/${encodeURIComponent(runId)}`), runId);
  const [message, setMessage] = useState('');
  if (!data) return html`<p class=${error ? 'error' : ''}>${error ?? 'Loading…'}</p>`;
  const r = data.run;
  const act = async (what: 'retry' | 'stop') => {
    try {
      if (what === 'retry') {
        const started = await api<{ runId: string }>('POST', `/runs/${encodeURIComponent(runId)}/retry`, {});
        location.hash = `#/run/${encodeURIComponent(started.runId)}`;
      } else {
        const reason = prompt('Why stop this run? (recorded on the run)');
        if (!reason) return;
        const answer = await api<{ status: string; message?: string }>(
          'POST',
          `/runs/${encodeURIComponent(runId)}/stop`,
          { reason },
        );
        setMessage(answer.message ?? `stopped (${answer.status})`);
      }
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  const pending = data.approvals.filter((a) => a.status === 'PENDING');
  return html`<h1>${r.workflow} ${badge(r.status)}</h1>
    <dl class="run">
      <dt>Run</dt>
      <dd>${r.runId}</dd>
      <dt>Stack</dt>
      <dd>${r.stack ?? '-'}${r.commit ? html` at <code>${r.commit.slice(0, 12)}</code>` : ''}</dd>
      <dt>Started</dt>
      <dd>${r.startedAt} by ${r.startedBy ?? 'unknown'} · ${duration(r.startedAt, r.endedAt)}</dd>
      ${
        r.retryOf &&
        html`<dt>Retry of</dt>
          <dd><a href=${`#/run/${r.retryOf}`}>${r.retryOf}</a></dd>`
      }
      ${
        r.retriedBy &&
        html`<dt>Retried by</dt>
          <dd><a href=${`#/run/${r.retriedBy}`}>${r.retriedBy}</a></dd>`
      }
      ${
        r.parentRunId &&
        html`<dt>Parent</dt>
          <dd><a href=${`#/run/${r.parentRunId}`}>${r.parentRunId}</a></dd>`
      }
      ${
        r.error &&
        html`<dt>Error</dt>
          <dd class="error">${r.error}: ${r.cause ?? ''}</dd>`
      }
    </dl>
    <div class="actions">
      ${r.status === 'RUNNING' && html`<button name="stop" onClick=${() => void act('stop')}>Stop</button>`}
      ${
        ended(r.status) &&
        r.status !== 'SUCCEEDED' &&
        !r.parentRunId &&
        html`<button name="retry" onClick=${() => void act('retry')}>Retry what did not get done</button>`
      }
      ${message && html`<span class="message">${message}</span>`}
    </div>
    ${pending.map((a) => html`<${PlanReview} approval=${a} />`)}
    ${data.components.length > 0 && html`<${Mermaid} text=${graphOf(data)} />`}
    <table class="components">
      <thead>
        <tr>
          <th>Step</th>
          <th>Component</th>
          <th>Status</th>
          <th>Time</th>
          <th>Plan</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        ${data.components.map(
          (c: ComponentRecord) =>
            html`<tr data-component=${`${c.step}/${c.component}`}>
              <td>${c.step}</td>
              <td>${c.component}</td>
              <td>${badge(c.status)}</td>
              <td>${duration(c.startedAt, c.endedAt)}</td>
              <td>${c.plan ? `+${c.plan.add} ~${c.plan.change} -${c.plan.destroy}` : ''}</td>
              <td>
                ${c.message ?? ''}${c.error ? html`<pre class="error">${c.error}</pre>` : ''}
                ${c.buildId && html`<${BuildLog} runId=${r.runId} step=${c.step} component=${c.component} />`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${data.approvals
      .filter((a) => a.status !== 'PENDING')
      .map(
        (a) =>
          html`<p class="approval">
            Approval ${String(a.step)}: ${badge(String(a.status))} ${a.decidedBy ? `by ${String(a.decidedBy)}` : ''}
            ${a.comment ? `— ${String(a.comment)}` : ''}
          </p>`,
      )}`;
}

/** A build's log, through the API (GET /runs/{id}/logs), shown on request. */
function BuildLog({ runId, step, component }: { runId: string; step: string; component: string }) {
  const [text, setText] = useState<string | undefined>(undefined);
  const show = async () => {
    try {
      const lines: string[] = [];
      let nextToken = '';
      for (let page = 0; page < 20; page++) {
        const q = new URLSearchParams({ step, component, ...(nextToken ? { nextToken } : {}) });
        const p = await api<{ lines: string[]; nextToken: string }>(
          'GET',
          `/runs/${encodeURIComponent(runId)}/logs?${q}`,
        );
        lines.push(...p.lines);
        if (!p.nextToken || p.nextToken === nextToken || p.lines.length === 0) break;
        nextToken = p.nextToken;
      }
      setText(lines.join('\n'));
    } catch (e) {
      setText((e as Error).message);
    }
  };
  return text === undefined
    ? html`<button class="link" name="log" onClick=${() => void show()}>log</button>`
    : html`<button class="link" onClick=${() => setText(undefined)}>hide log</button>
        <pre class="log">${text}</pre>`;
}

/** A plan's rendered text (terraform show), through the API (GET /runs/{id}/plans/{component}), on request. */
function PlanText({ runId, component }: { runId: string; component: string }) {
  const [text, setText] = useState<string | undefined>(undefined);
  const show = () =>
    api<{ text: string }>('GET', `/runs/${encodeURIComponent(runId)}/plans/${encodeURIComponent(component)}`)
      .then((p) => setText(p.text))
      .catch((e: Error) => setText(e.message));
  return text === undefined
    ? html`<button class="link" name="plan-text" onClick=${() => void show()}>plan text</button>`
    : html`<button class="link" onClick=${() => setText(undefined)}>hide plan text</button>
        <pre class="log">${text}</pre>`;
}

interface PlanLine {
  component: string;
  add: number;
  change: number;
  destroy: number;
  sha256?: string;
  resources?: string;
}

function PlanReview({ approval }: { approval: Record<string, unknown> }) {
  const [comment, setComment] = useState('');
  const [answer, setAnswer] = useState('');
  const id = String(approval.approvalId);
  const decide = async (decision: 'approve' | 'reject') => {
    try {
      const a = await api<{ status: string }>('POST', `/approvals/${encodeURIComponent(id)}`, {
        decision,
        ...(comment ? { comment } : {}),
      });
      setAnswer(`${a.status.toLowerCase()}`);
    } catch (e) {
      setAnswer((e as Error).message);
    }
  };
  const plan = (approval.plan ?? []) as PlanLine[];
  const parameters = approval.parameters as Record<string, string> | undefined;
  return html`<section class="review" data-approval=${id}>
    <h2>Waiting for approval: ${String(approval.step)} (expires ${String(approval.expiresAt)})</h2>
    ${
      parameters
        ? html`<p>It will run with: ${Object.entries(parameters).map(([k, v]) => html`<code>${k}=${v}</code> `)}</p>`
        : plan.map(
            (p) =>
              html`<div class="plan">
                <strong>${p.component}</strong> +${p.add} ~${p.change} -${p.destroy}
                ${p.sha256 && html`<small> plan sha256 ${p.sha256.slice(0, 12)}…</small>`}
                ${p.resources && html`<pre>${p.resources}</pre>`}
                <${PlanText} runId=${String(approval.runId)} component=${p.component} />
              </div>`,
          )
    }
    <textarea
      name="comment"
      placeholder="comment (recorded with the decision)"
      value=${comment}
      onInput=${(e: Event) => setComment((e.target as HTMLTextAreaElement).value)}
    ></textarea>
    <button name="approve" onClick=${() => void decide('approve')}>Approve</button>
    <button name="reject" onClick=${() => void decide('reject')}>Reject</button>
    ${answer && html`<span class="message">${answer}</span>`}
  </section>`;
}

function Approvals() {
  const { data, error } = usePoll(
    () => api<{ approvals: Record<string, unknown>[] }>('GET', '/approvals'),
    'approvals',
  );
  return html`<h1>Pending approvals</h1>
    ${error && html`<p class="error">${error}</p>`}
    ${(data?.approvals ?? []).map(
      (a) =>
        html`<p>
          <a href=${`#/run/${encodeURIComponent(String(a.runId))}`}>${String(a.runId)}</a> — ${String(a.workflow)} on
          ${String(a.stack)}, step ${String(a.step)}
        </p>`,
    )}
    ${data && data.approvals.length === 0 ? html`<p>Nothing waits for approval.</p>` : ''}`;
}

function Environments() {
  const { data, error } = usePoll(() => api<{ environments: Environment[] }>('GET', '/environments'), 'envs');
  return html`<h1>Environments</h1>
    ${error && html`<p class="error">${error}</p>`}
    <table class="environments">
      <thead>
        <tr>
          <th>Stack</th>
          <th>Status</th>
          <th>Tier</th>
          <th>CIDR</th>
          <th>Last drift check</th>
        </tr>
      </thead>
      <tbody>
        ${(data?.environments ?? []).map(
          (e) =>
            html`<tr data-stack=${e.stack}>
              <td>${e.stack}</td>
              <td>${e.status}</td>
              <td>${e.tier ?? ''}</td>
              <td>${e.vpcCidr ?? ''}</td>
              <td>
                ${!e.lastDrift ? 'never checked' : e.lastDrift.drifted.length > 0 ? `drifted: ${e.lastDrift.drifted.join(', ')}` : 'in sync'}
                ${e.lastDrift && html` (${e.lastDrift.checkedAt}, <a href=${`#/run/${e.lastDrift.runId}`}>run</a>)`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

const style = document.createElement('style');
style.textContent = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #24292f; color: #fff; }
header a { color: #d0d7de; text-decoration: none; }
main { padding: 1em 1.2em; }
table { border-collapse: collapse; width: 100%; margin: .8em 0; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #d8dee4; vertical-align: top; }
.badge { padding: .1em .5em; border-radius: 1em; font-size: 12px; background: #eee; }
.s-SUCCEEDED, .s-APPROVED { background: #d9f2d9; } .s-FAILED, .s-REJECTED, .s-TIMED_OUT, .s-ABORTED, .s-EXPIRED { background: #fbd5d5; }
.s-RUNNING, .s-PENDING { background: #d6e6fb; } .s-SKIPPED { color: #616161; }
.error { color: #b42318; } pre { background: #f6f8fa; padding: .5em; white-space: pre-wrap; margin: .3em 0; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.run dt { font-weight: 600; } dl.run dd { margin: 0; }
.review { border: 1px solid #1565c0; border-radius: 6px; padding: .8em; margin: .8em 0; background: #f5f9ff; }
.review textarea { display: block; width: 100%; min-height: 3em; margin: .5em 0; }
button { margin-right: .5em; padding: .3em .9em; } .message { margin-left: .5em; }
.filters { display: flex; gap: .5em; } button.link { border: none; background: none; color: #0969da; cursor: pointer; padding: 0; }
pre.log { max-height: 30em; overflow: auto; font-size: 12px; } .graph { margin: 1em 0; overflow-x: auto; }
`;
document.head.appendChild(style);
const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading…" the page was served with
render(html`<${App} />`, root);
