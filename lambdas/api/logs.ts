/**
 * What an operator reads through the API besides the records. GET /runs/{id}/plans/{component}: a plan's rendered
 * text (`terraform show` of the saved plan), which its build stored beside the plan file in the artifacts bucket.
 * GET /runs/{id}/logs: a build's log through the API, the one control surface — CodeBuild says where the build's log
 * is (BatchGetBuilds: its CloudWatch Logs group and stream), CloudWatch Logs has it (GetLogEvents, from its head, a
 * page at a time). Locally the same calls reach the local builds' log files.
 */
import { BatchGetBuildsCommand, type CodeBuildClient } from '@aws-sdk/client-codebuild';
import { GetLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { ComponentRecord } from '../../lib/records/run';
import type { ApiDeps } from './core';
import { ApiRequest, ApiResponse, HttpError } from './http';

/** A page of a build's log. */
export interface LogPage {
  readonly lines: string[];
  /** Where the next page starts (pass it back as `nextToken`). */
  readonly nextToken: string;
  /** The build has ended and this page reached the end of its log. */
  readonly complete: boolean;
}

export type BuildLogReader = (buildId: string, nextToken?: string) => Promise<LogPage>;

/** The reader on CodeBuild and CloudWatch Logs (the deployed API's; locally the same calls reach the local builds). */
export function cloudLogReader(codebuild: CodeBuildClient, logs: CloudWatchLogsClient): BuildLogReader {
  return async (buildId, nextToken) => {
    const build = (await codebuild.send(new BatchGetBuildsCommand({ ids: [buildId] }))).builds?.[0];
    const group = build?.logs?.groupName;
    const stream = build?.logs?.streamName;
    if (!build) throw new HttpError(404, 'NotFound', `no build ${buildId}`);
    if (!group || !stream) {
      // Queued or provisioning: CodeBuild names the stream once the build runs. A follower waits for it.
      if (build.buildStatus === 'IN_PROGRESS') return { lines: [], nextToken: nextToken ?? '', complete: false };
      throw new HttpError(404, 'NotFound', `build ${buildId} has no log`);
    }
    const out = await logs.send(
      new GetLogEventsCommand({
        logGroupName: group,
        logStreamName: stream,
        startFromHead: true,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    const lines = (out.events ?? []).map((e) => (e.message ?? '').replace(/\n$/, ''));
    // CloudWatch's forward token is returned unchanged at the end of the stream.
    const atEnd = lines.length === 0 || out.nextForwardToken === nextToken;
    return { lines, nextToken: out.nextForwardToken ?? '', complete: build.buildStatus !== 'IN_PROGRESS' && atEnd };
  };
}

/** GET /runs/{id}/logs?component=&step=&nextToken=: a page of the log of one of the run's builds. */
export async function runLog(runId: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const detail = await deps.runs.getRunDetail(runId);
  if (!detail) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  const built = detail.components.filter((c) => c.buildId);
  const { component, step, nextToken } = req.query;
  const candidates = built.filter((c) => (!component || c.component === component) && (!step || c.step === step));
  const failed = candidates.filter((c) => c.status === 'FAILED');
  // Unnamed: the run's one failed build, or its one build; named by component: its last step's build.
  const chosen: ComponentRecord | undefined =
    component || step
      ? candidates.at(-1)
      : failed.length === 1
        ? failed[0]
        : candidates.length === 1
          ? candidates[0]
          : undefined;
  // Named, and dispatched, but its build's start not recorded yet (the build's first event is on its way).
  const starting = component
    ? detail.components.filter((c) => c.component === component && (!step || c.step === step)).at(-1)
    : undefined;
  if (!chosen && starting?.status === 'RUNNING')
    return {
      statusCode: 200,
      body: {
        runId,
        step: starting.step,
        component,
        status: starting.status,
        lines: [],
        nextToken: nextToken ?? '',
        complete: false,
      },
    };
  if (!chosen) {
    const builds = built.map((c) => `${c.step}/${c.component}`);
    throw new HttpError(
      400,
      'InvalidInput',
      builds.length === 0
        ? `run ${runId} has no builds (yet)`
        : `name the build: component (and step) of one of ${builds.join(', ')}`,
      {
        problems: [
          {
            field: 'component',
            problem: `allowed: ${[...new Set(built.map((c) => c.component))].join(', ')}`,
          },
        ],
      },
    );
  }
  const page = await deps.buildLog(chosen.buildId!, nextToken);
  return {
    statusCode: 200,
    body: {
      runId,
      step: chosen.step,
      component: chosen.component,
      buildId: chosen.buildId,
      status: chosen.status,
      ...page,
    },
  };
}

/** Reads an object of the artifacts bucket as text (undefined: no such object). */
export type ArtifactReader = (key: string) => Promise<string | undefined>;

/** The most of a plan's text an answer carries (an API Gateway answer holds 10 MB; a terminal wants less). */
const PLAN_TEXT_LIMIT = 1_000_000;

/** GET /runs/{id}/plans/{component}?step=: the plan's rendered text, with its counts and SHA-256. */
export async function planText(runId: string, component: string, req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const detail = await deps.runs.getRunDetail(runId);
  if (!detail) throw new HttpError(404, 'NotFound', `no run ${runId}`);
  const planned = detail.components.filter((c) => c.plan && (!req.query.step || c.step === req.query.step));
  const record = planned.filter((c) => c.component === component).at(-1);
  if (!record)
    throw new HttpError(
      404,
      'NotFound',
      `run ${runId} has no plan of ${component}${req.query.step ? ` in step ${req.query.step}` : ''}; planned: ${[...new Set(planned.map((c) => c.component))].join(', ') || 'none'}`,
    );
  const prefix = record.plan!.artifactsPrefix;
  const text = prefix ? await deps.artifact(`${prefix}/plan.txt`) : undefined;
  if (text === undefined)
    throw new HttpError(
      404,
      'NotFound',
      `the text of ${component}'s plan (step ${record.step}) is not in the artifacts`,
    );
  return {
    statusCode: 200,
    body: {
      runId,
      step: record.step,
      component,
      sha256: record.plan!.sha256,
      ...(record.reusedFrom ? { reusedFrom: record.reusedFrom } : {}),
      truncated: text.length > PLAN_TEXT_LIMIT,
      text: text.slice(0, PLAN_TEXT_LIMIT),
    },
  };
}
