// Local CodeBuild refuses what CodeBuild refuses: a build limit (timeoutInMinutesOverride) outside 5-2160 minutes or
// not a whole number, and a project that does not exist.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBuilds } from '../lib/local/builds';

const builds = new LocalBuilds({
  template: { Resources: {} } as never,
  region: 'us-east-1',
  assemblyDir: mkdtempSync(join(tmpdir(), 'tropos-assembly-')),
  dataDir: mkdtempSync(join(tmpdir(), 'tropos-builds-')),
  localEnvironment: {},
  emit: async () => undefined,
});
const signal = new AbortController().signal;

test.each([4, 2161, 30.5, '60', null])('timeoutInMinutesOverride %p is refused as CodeBuild refuses it', async (v) => {
  await expect(builds.task({ ProjectName: 'p', TimeoutInMinutesOverride: v }, signal)).rejects.toMatchObject({
    name: 'CodeBuild.InvalidInputException',
    message: expect.stringContaining("at 'timeoutInMinutesOverride' failed to satisfy constraint"),
  });
});

test('a limit within 5-2160 passes the check; an unknown project is then refused', async () => {
  for (const v of [5, 120, 2160, undefined])
    await expect(builds.task({ ProjectName: 'nope', TimeoutInMinutesOverride: v }, signal)).rejects.toMatchObject({
      name: 'CodeBuild.ResourceNotFoundException',
    });
});
