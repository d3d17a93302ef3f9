/**
 * The API's build-log reader over CodeBuild (where the log is) and CloudWatch Logs (the lines). A build that is
 * queued or provisioning has no log stream yet, as CodeBuild documents: `logs --follow` waits for it to appear.
 */
import { BatchGetBuildsCommand, type CodeBuildClient } from '@aws-sdk/client-codebuild';
import { GetLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { cloudLogReader, runLog } from '../lambdas/api/logs';

type Build = { buildStatus: string; logs?: { groupName?: string; streamName?: string } } | undefined;

function reader(build: () => Build, events: string[] = []) {
  const codebuild = {
    send: async (c: unknown) => {
      expect(c).toBeInstanceOf(BatchGetBuildsCommand);
      const b = build();
      return { builds: b ? [b] : [] };
    },
  } as unknown as CodeBuildClient;
  const logs = {
    send: async (c: unknown) => {
      expect(c).toBeInstanceOf(GetLogEventsCommand);
      const token = (c as GetLogEventsCommand).input.nextToken;
      return token === 'f/1'
        ? { events: [], nextForwardToken: 'f/1' }
        : { events: events.map((message) => ({ message: `${message}\n` })), nextForwardToken: 'f/1' };
    },
  } as unknown as CloudWatchLogsClient;
  return cloudLogReader(codebuild, logs);
}

test('a build without a log stream yet (queued, provisioning): an empty page, not the end', async () => {
  const read = reader(() => ({ buildStatus: 'IN_PROGRESS', logs: {} }));
  await expect(read('b:1')).resolves.toEqual({ lines: [], nextToken: '', complete: false });
  await expect(read('b:1', 'f/0')).resolves.toEqual({ lines: [], nextToken: 'f/0', complete: false });
});

test('a build that ended without a log, or no such build: 404 naming it', async () => {
  await expect(reader(() => ({ buildStatus: 'FAILED', logs: {} }))('b:2')).rejects.toMatchObject({
    statusCode: 404,
    message: 'build b:2 has no log',
  });
  await expect(reader(() => undefined)('b:3')).rejects.toMatchObject({ statusCode: 404, message: 'no build b:3' });
});

test('lines, then the end once the build has ended and the stream is read to its end', async () => {
  let status = 'IN_PROGRESS';
  const read = reader(() => ({ buildStatus: status, logs: { groupName: 'g', streamName: 's' } }), ['one', 'two']);
  await expect(read('b:4')).resolves.toEqual({ lines: ['one', 'two'], nextToken: 'f/1', complete: false });
  await expect(read('b:4', 'f/1')).resolves.toEqual({ lines: [], nextToken: 'f/1', complete: false });
  status = 'SUCCEEDED';
  await expect(read('b:4', 'f/1')).resolves.toEqual({ lines: [], nextToken: 'f/1', complete: true });
});

describe('GET /runs/{id}/logs', () => {
  const detail = (components: Record<string, unknown>[]) => ({
    run: { runId: 'r' },
    components,
    steps: [],
    approvals: [],
  });
  const call = (components: Record<string, unknown>[], query: Record<string, string>) =>
    runLog(
      'r',
      { query } as never,
      {
        runs: { getRunDetail: async () => detail(components) },
        buildLog: async (id: string) => ({ lines: [`log of ${id}`], nextToken: 't', complete: true }),
      } as never,
    );

  test('a component whose build has started but whose start is not recorded yet: an empty page, not an error', async () => {
    const out = await call([{ step: 'plan', component: 'vpc', status: 'RUNNING' }], { component: 'vpc' });
    expect(out).toMatchObject({ statusCode: 200, body: { component: 'vpc', lines: [], complete: false } });
    await expect(
      call([{ step: 'plan', component: 'vpc', status: 'SKIPPED' }], { component: 'vpc' }),
    ).rejects.toMatchObject({
      statusCode: 400,
    });
    const built = await call([{ step: 'plan', component: 'vpc', status: 'RUNNING', buildId: 'b:1' }], {
      component: 'vpc',
    });
    expect(built.body).toMatchObject({ buildId: 'b:1', lines: ['log of b:1'] });
  });
});
