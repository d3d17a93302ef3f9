/**
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
    if (!build || !group || !stream) throw new HttpError(404, 'NotFound', `build ${buildId} has no log (yet)`);
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
            field: component ? 'component' : 'component',
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
