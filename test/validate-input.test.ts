import { validateInput, ValidateRequest } from '../lambdas/validate-input/core';
import { InvalidInputError } from '../lib/domain/errors';
import type { Check } from '../lib/workflow/schema';
import { environment, MemoryRegistry, settings, spec } from './helpers/fixtures';

const registry = new MemoryRegistry([
  environment('acme-dev-testenv-01', { vpcCidr: '10.0.0.0/16', components: ['backend', 'vpc', 'iam'] }),
  environment('acme-staging-main', { vpcCidr: '10.10.0.0/16' }),
  environment('acme-prod-main', { vpcCidr: '10.20.0.0/16' }),
  environment('acme-dev-old', { vpcCidr: '10.30.0.0/16', status: 'destroyed' }),
  environment('other-dev-x', { tenant: 'other', vpcCidr: '10.40.0.0/16' }),
]);

const onboard = spec({
  name: 'onboard-environment',
  required: ['tenant', 'account', 'environment', 'vpc_cidr'],
  optional: ['region', 'tier', 'tags'],
});
const onboardChecks: Check[] = ['stack-not-registered', 'cidr-free', 'tags-policy'];

function request(input: unknown, checks: Check[] = [], workflow = spec()): ValidateRequest {
  return { workflow, checks, input, runId: 'run-1' };
}

async function problems(req: ValidateRequest): Promise<string[]> {
  try {
    await validateInput(req, settings, registry);
  } catch (e) {
    if (e instanceof InvalidInputError) return e.problems.map((p) => `${p.field}: ${p.problem}`);
    throw e;
  }
  return [];
}

describe('validate-input core', () => {
  describe('valid inputs', () => {
    test.each([
      [
        'a registered dev stack',
        { tenant: 'acme', account: 'dev', environment: 'testenv-01' },
        'dev',
        'acme-dev-testenv-01',
      ],
      ['a registered prod stack', { tenant: 'acme', account: 'prod', environment: 'main' }, 'prod', 'acme-prod-main'],
      [
        'with reserved keys',
        {
          tenant: 'acme',
          account: 'staging',
          environment: 'main',
          dryRun: true,
          requestedBy: 'jane',
          ticketId: 'CHG-1',
        },
        'staging',
        'acme-staging-main',
      ],
      [
        'dryRun as a string',
        { tenant: 'acme', account: 'staging', environment: 'main', dryRun: 'true' },
        'staging',
        'acme-staging-main',
      ],
    ])('accepts %s', async (_, input, tier, stack) => {
      // Act
      const out = await validateInput(request(input), settings, registry);
      // Assess
      expect(out.context).toMatchObject({
        tier,
        stack,
        accountId: settings.accounts[(input as { account: string }).account]!.id,
        fromStepIndex: 0,
      });
      expect(out.context.stateBucket).toBe('acme-terraform-state-000000000000');
      expect(out.context.lockTable).toBe('acme-terraform-locks');
      expect(out.results).toEqual({});
    });

    test("components= is passed on as asked (sets expanded); whether the stack has them is the repository's to say", async () => {
      const all = await validateInput(
        request({ tenant: 'acme', account: 'dev', environment: 'testenv-01' }),
        settings,
        registry,
      );
      expect(all.context).toMatchObject({ asked: null, component: null, wholeStack: true });
      const some = await validateInput(
        request(
          { tenant: 'acme', account: 'dev', environment: 'testenv-01', components: 'iam,vpc,sqs' },
          [],
          spec({ optional: ['components'] }),
        ),
        settings,
        registry,
      );
      expect(some.context).toMatchObject({ asked: 'iam,vpc,sqs', wholeStack: false });
      const set = await validateInput(
        request(
          { tenant: 'acme', account: 'dev', environment: 'testenv-01', components: 'coarse,vpc' },
          [],
          spec({ optional: ['components'] }),
        ),
        settings,
        registry,
      );
      expect(set.context.asked).toBe([...settings.sets.coarse!, 'vpc'].join(','));
    });

    test("a stack registered from the repository (tier '': the account's) runs at its account's tier", async () => {
      // What a run's resolve records for a stack the repository defines and Tropos had no record of (recordSeen).
      const seen = new MemoryRegistry([environment('acme-dev-seen', { tier: '', source: 'repository' })]);
      const out = await validateInput(request({ tenant: 'acme', account: 'dev', environment: 'seen' }), settings, seen);
      expect(out.context).toMatchObject({ stack: 'acme-dev-seen', tier: 'dev', approvalPolicy: 'never' });
    });

    test('a stack the registry does not know is not refused: the run resolves it from the repository', async () => {
      const out = await validateInput(
        request({ tenant: 'acme', account: 'prod', environment: 'never-seen' }),
        settings,
        registry,
      );
      expect(out.context).toMatchObject({ stack: 'acme-prod-never-seen', tier: 'prod' });
      // A new stack's generated configuration gets the catalog's default set.
      expect(out.context.components).toEqual(settings.defaultComponents);
    });

    test('fromStep becomes the index of the step', async () => {
      const out = await validateInput(
        request({ tenant: 'acme', account: 'dev', environment: 'testenv-01', fromStep: 'plan' }),
        settings,
        registry,
      );
      expect(out.context.fromStepIndex).toBe(1);
    });

    test('normalises the input: every declared key present, absent ones null', async () => {
      const out = await validateInput(
        request({ tenant: 'acme', account: 'dev', environment: 'testenv-01' }, [], spec({ optional: ['components'] })),
        settings,
        registry,
      );
      expect(out.input).toEqual({
        tenant: 'acme',
        account: 'dev',
        callbackUrl: null,
        environment: 'testenv-01',
        components: null,
        dryRun: false,
        fromStep: null,
        requestedBy: null,
        ticketId: null,
      });
    });

    test('onboarding a new stack with a free CIDR and the required tags', async () => {
      const out = await validateInput(
        request(
          {
            tenant: 'acme',
            account: 'dev',
            environment: 'testenv-02',
            vpc_cidr: '10.2.0.0/16',
            tags: 'Owner=platform,CostCenter=42',
          },
          onboardChecks,
          onboard,
        ),
        settings,
        registry,
      );
      expect(out.context.stack).toBe('acme-dev-testenv-02');
    });

    test('a destroyed environment frees its CIDR and its name', async () => {
      const out = await validateInput(
        request(
          {
            tenant: 'acme',
            account: 'dev',
            environment: 'old',
            vpc_cidr: '10.30.0.0/16',
            tags: 'Owner=a,CostCenter=b',
          },
          onboardChecks,
          onboard,
        ),
        settings,
        registry,
      );
      expect(out.context.stack).toBe('acme-dev-old');
    });

    test("another tenant's CIDR does not count as an overlap", async () => {
      await expect(
        validateInput(
          request(
            {
              tenant: 'acme',
              account: 'dev',
              environment: 'n',
              vpc_cidr: '10.40.0.0/16',
              tags: 'Owner=a,CostCenter=b',
            },
            onboardChecks,
            onboard,
          ),
          settings,
          registry,
        ),
      ).rejects.toThrow(/environment: "n" is not allowed/);
    });
  });

  describe('invalid inputs name every bad field', () => {
    test.each<[string, unknown, RegExp[], Check[]?, ReturnType<typeof spec>?]>([
      ['not an object', 'tenant=acme', [/^\(input\): must be a JSON object/]],
      ['an array', [1], [/^\(input\): must be a JSON object.*an array/]],
      ['all required missing', {}, [/^tenant: is required/, /^account: is required/, /^environment: is required/]],
      [
        'bad tenant',
        { tenant: 'Acme!', account: 'dev', environment: 'x1' },
        [/^tenant: "Acme!" is not allowed: 2-16 lowercase/],
      ],
      [
        'unknown account',
        { tenant: 'acme', account: 'qa', environment: 'main' },
        [/^account: "qa" is not a configured account; allowed: management, dev, staging, prod/],
      ],
      [
        'bad environment',
        { tenant: 'acme', account: 'dev', environment: 'Test_Env' },
        [/^environment: "Test_Env" is not allowed/],
      ],
      [
        'environment ending with a hyphen',
        { tenant: 'acme', account: 'dev', environment: 'test-' },
        [/^environment: "test-" is not allowed/],
      ],
      [
        'unknown key',
        { tenant: 'acme', account: 'dev', environment: 'testenv-01', enviroment: 'x' },
        [/^enviroment: is not an input of apply-environment; allowed: tenant, account, environment, stack, fromStep/],
      ],
      [
        'a non-string value',
        { tenant: 'acme', account: 'dev', environment: { a: 1 } },
        [/^environment: must be a string; got an object/],
      ],
      [
        'a bad fromStep',
        { tenant: 'acme', account: 'dev', environment: 'testenv-01', fromStep: 'aply' },
        [/^fromStep: "aply" is not a step of apply-environment; allowed: validate, plan, apply/],
      ],
      [
        'a bad dryRun',
        { tenant: 'acme', account: 'dev', environment: 'testenv-01', dryRun: 'yes' },
        [/^dryRun: must be true or false/],
      ],
      [
        'a value too long',
        { tenant: 'acme', account: 'dev', environment: 'x'.repeat(2000) },
        [/^environment: is 2000 characters long/],
      ],
      [
        'bad CIDR syntax',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.2.0.0', tags: 'Owner=a,CostCenter=b' },
        [/^vpc_cidr: "10.2.0.0" is not an IPv4 CIDR block/],
        onboardChecks,
        onboard,
      ],
      [
        'CIDR octet above 255',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.256.0.0/16', tags: 'Owner=a,CostCenter=b' },
        [/^vpc_cidr: .*octet above 255/],
        onboardChecks,
        onboard,
      ],
      [
        'CIDR not a network address',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.2.3.0/16', tags: 'Owner=a,CostCenter=b' },
        [/^vpc_cidr: .*not a network address: the \/16 block is 10.2.0.0\/16/],
        onboardChecks,
        onboard,
      ],
      [
        'CIDR prefix too wide',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.0.0.0/8', tags: 'Owner=a,CostCenter=b' },
        [/^vpc_cidr: \/8 is not allowed/],
        onboardChecks,
        onboard,
      ],
      [
        'overlapping CIDR',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.20.128.0/20', tags: 'Owner=a,CostCenter=b' },
        [/^vpc_cidr: 10.20.128.0\/20 overlaps 10.20.0.0\/16 of acme-prod-main/],
        onboardChecks,
        onboard,
      ],
      [
        'already registered',
        {
          tenant: 'acme',
          account: 'staging',
          environment: 'main',
          vpc_cidr: '10.99.0.0/16',
          tags: 'Owner=a,CostCenter=b',
        },
        [/^environment: stack acme-staging-main is already registered/],
        onboardChecks,
        onboard,
      ],
      [
        'missing required tags',
        { tenant: 'acme', account: 'dev', environment: 'e2', vpc_cidr: '10.2.0.0/16', tags: 'Owner=a' },
        [/^tags: the tags policy requires a "CostCenter" tag/],
        onboardChecks,
        onboard,
      ],
      [
        'unknown tier',
        {
          tenant: 'acme',
          account: 'dev',
          environment: 'e2',
          vpc_cidr: '10.2.0.0/16',
          tier: 'gold',
          tags: 'Owner=a,CostCenter=b',
        },
        [/^tier: "gold" is not a configured tier/],
        onboardChecks,
        onboard,
      ],
      [
        'several problems at once',
        { tenant: 'A', account: 'qa', environment: 'main', vpc_cidr: 'x', tags: '' },
        [/^tenant:/, /^account:/, /^vpc_cidr:/, /^tags: .*Owner/, /^tags: .*CostCenter/],
        onboardChecks,
        onboard,
      ],
    ])('rejects %s', async (_, input, expected, checks = [], workflow = spec()) => {
      // Act
      const found = await problems(request(input, checks, workflow));
      // Assess
      expect(found).toHaveLength(expected.length);
      expected.forEach((re, i) => expect(found[i]).toMatch(re));
    });

    test('the error is named InvalidInput, the Step Functions error code of the workflows', async () => {
      await expect(validateInput(request({}), settings, registry)).rejects.toMatchObject({ name: 'InvalidInput' });
    });

    test('parameters required by another parameter value', async () => {
      const stateOps = spec({
        name: 'state-operations',
        inputs: {
          required: ['tenant', 'account', 'environment', 'component', 'operation'],
          optional: ['lock_id', 'version_id'],
          defaults: {},
          requiredWhen: { 'operation=unlock': ['lock_id'] },
        },
      });
      const base = { tenant: 'acme', account: 'dev', environment: 'testenv-01', component: 'vpc' };
      expect(await problems(request({ ...base, operation: 'unlock' }, [], stateOps))).toEqual([
        expect.stringMatching(/^lock_id: is required when operation=unlock/),
      ]);
      expect(await problems(request({ ...base, operation: 'drop' }, [], stateOps))).toEqual([
        expect.stringMatching(
          /^operation: "drop" is not allowed; allowed: list, lock-status, unlock, versions, restore/,
        ),
      ]);
      expect(await problems(request({ ...base, component: 'v p', operation: 'list' }, [], stateOps))).toEqual([
        expect.stringMatching(/^component: "v p" is not allowed: a component of the stack in the repository/),
      ]);
      expect(await problems(request({ ...base, operation: 'list' }, [], stateOps))).toEqual([]);
    });
  });

  describe('stack= asks for a stack by its name in the repository', () => {
    // What recordSeen leaves after a resolve read an Atmos repository named {namespace}-{tenant}-{environment}-{stage}.
    const named = new MemoryRegistry([
      environment('acme-dev-testenv-01', { name: 'eg-acme-testenv-01-development', source: 'repository' }),
      environment('acme-prod-main', { name: 'eg-acme-main-prd', tier: '', source: 'repository' }),
      environment('acme-dev-gone', { name: 'eg-acme-gone-development', status: 'destroyed' }),
    ]);
    const fields = async (input: unknown, workflow = spec(), checks: Check[] = []) => {
      try {
        await validateInput(request(input, checks, workflow), settings, named);
      } catch (e) {
        if (e instanceof InvalidInputError) return e.problems.map((p) => `${p.field}: ${p.problem}`);
        throw e;
      }
      return [];
    };

    test("fills tenant, account and environment from the registry; the tier is the account's, from the configuration", async () => {
      const prod = await validateInput(request({ stack: 'eg-acme-main-prd' }), settings, named);
      expect(prod.context).toMatchObject({
        stack: 'acme-prod-main',
        tenant: 'acme',
        account: 'prod',
        environment: 'main',
        tier: 'prod',
        approvalPolicy: settings.tiers.prod!.approval,
        askedStack: 'eg-acme-main-prd',
      });
      expect(prod.input).toMatchObject({
        tenant: 'acme',
        account: 'prod',
        environment: 'main',
        stack: 'eg-acme-main-prd',
      });
      // Tropos's own name is a name too; the coordinates may be given beside the name when they agree (the API
      // starts the run with its validated input, which has both).
      const own = await validateInput(request({ stack: ' acme-dev-testenv-01 ' }), settings, named);
      expect(own.context).toMatchObject({
        stack: 'acme-dev-testenv-01',
        tier: 'dev',
        askedStack: 'acme-dev-testenv-01',
      });
      const both = await validateInput(
        request({ stack: 'eg-acme-main-prd', tenant: 'acme', account: 'prod', environment: 'main' }),
        settings,
        named,
      );
      expect(both.context.stack).toBe('acme-prod-main');
    });

    test('an unknown, destroyed or malformed name is refused on the stack field alone', async () => {
      expect(await fields({ stack: 'eg-acme-nowhere-prd' })).toEqual([
        expect.stringMatching(
          /^stack: "eg-acme-nowhere-prd" is not a stack Tropos has read from the repository: .*drift-sweep.*or ask by tenant, account and environment$/,
        ),
      ]);
      expect(await fields({ stack: 'eg-acme-gone-development' })).toEqual([
        expect.stringMatching(/^stack: "eg-acme-gone-development" is not a stack Tropos has read/),
      ]);
      expect(await fields({ stack: '-s eg' })).toEqual([
        expect.stringMatching(/^stack: "-s eg" is not allowed: a stack name of the repository/),
      ]);
      expect(await fields({ stack: 42 })).toEqual([expect.stringMatching(/^stack: 42 is not allowed/)]);
    });

    test("coordinates that are not the stack's are refused, naming each", async () => {
      expect(await fields({ stack: 'eg-acme-main-prd', account: 'dev' })).toEqual([
        'account: "dev" is not the account of stack eg-acme-main-prd ("prod"); give stack or the account, or both alike',
      ]);
    });

    test('without stack or coordinates the answer says both ways', async () => {
      expect(await fields({})).toEqual([
        expect.stringMatching(/^tenant: is required: .*\(or stack=<the stack's name in the repository>\)$/),
        expect.stringMatching(/^account: is required: /),
        expect.stringMatching(/^environment: is required: /),
      ]);
    });

    test('onboarding names a new environment by its coordinates; a workflow without a stack takes no stack', async () => {
      expect(await fields({ stack: 'eg-acme-main-prd', vpc_cidr: '10.99.0.0/16' }, onboard, onboardChecks)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^stack: onboard-environment takes a new environment's tenant, account and environment, not a stack/,
          ),
        ]),
      );
      const lint = spec({ name: 'lint', required: [], mutating: false });
      expect(await fields({ stack: 'eg-acme-main-prd' }, lint)).toEqual([
        expect.stringMatching(/^stack: is not an input of lint; allowed: fromStep/),
      ]);
    });
  });
});
