// Who may answer an approval: approver patterns and separation of duties, as pure functions (the end-to-end cases
// are in safety-inputs.test.ts); and the configuration's refusal of role patterns a session could never match.
import { approverProblem, principalMatches } from '../lambdas/api/authority';
import { ticketOwnerOf } from '../lambdas/api/core';
import { ConfigSchema } from '../lib/config/schema';
import { config } from './helpers/fixtures';

const session = (role: string, name: string) => `arn:aws:sts::111122223333:assumed-role/${role}/${name}`;

describe('principalMatches', () => {
  test.each([
    ['arn:aws:iam::111122223333:role/Approvers', session('Approvers', 'jane'), true],
    ['arn:aws:iam::111122223333:role/Approvers', session('Approvers2', 'jane'), false],
    ['arn:aws:iam::111122223333:role/Approvers', session('Developer', 'mallory'), false],
    ['arn:aws:iam::111122223333:role/Approvers', 'arn:aws:sts::999999999999:assumed-role/Approvers/jane', false],
    // A path or a wildcard in a role ARN is not a role pattern (the configuration refuses both).
    ['arn:aws:iam::111122223333:role/approvers/*', session('Developer', 'mallory'), false],
    ['arn:aws:iam::111122223333:role/team/Approver', session('Approver', 'x'), false],
    ['arn:aws:sts::111122223333:assumed-role/Approvers/*', session('Approvers', 'jane'), true],
    ['arn:aws:sts::111122223333:assumed-role/Approvers/*', session('ApproversNot', 'jane'), false],
    // Regular-expression characters in a pattern are literal.
    ['arn:aws:sts::111122223333:assumed-role/A.B/*', session('AxB', 'jane'), false],
    ['local:bob', 'local:bob', true],
    ['local:bob', 'local:bobby', false],
  ])('%s matches %s: %s', (pattern, principal, expected) => {
    expect(principalMatches(pattern, principal)).toBe(expected);
  });
});

describe('approverProblem', () => {
  const tiers = {
    prod: { approval: 'always', approvers: ['arn:aws:iam::111122223333:role/Approvers'], selfApproval: false },
    dev: { approval: 'never', selfApproval: true },
  };
  const approval = (fields: Record<string, unknown>) => ({
    approvalId: 'apply-environment-1.approve',
    tier: 'prod',
    ...fields,
  });

  test.each([
    [
      'an approver of the tier, not the requester',
      { requestedByPrincipal: session('Ops', 'alice') },
      session('Approvers', 'jane'),
      undefined,
    ],
    [
      'a caller who is not an approver',
      { requestedByPrincipal: session('Ops', 'alice') },
      session('Ops', 'bob'),
      /may not answer approvals of tier prod/,
    ],
    [
      'the requester, as an approver',
      { requestedByPrincipal: session('Approvers', 'jane') },
      session('Approvers', 'jane'),
      /started run apply-environment-1 and may not approve it/,
    ],
    [
      'a run started directly (unknown requester)',
      { requestedByPrincipal: null },
      session('Approvers', 'jane'),
      /was started directly/,
    ],
    [
      'a self-declared requestedBy naming the approver (decides nothing)',
      { requestedByPrincipal: session('Ops', 'alice'), requestedBy: session('Approvers', 'jane') },
      session('Approvers', 'jane'),
      undefined,
    ],
  ] as const)('%s', (_, fields, caller, expected) => {
    const problem = approverProblem(tiers, approval(fields), caller) ?? 'allowed';
    expect(problem).toMatch(expected ?? /^allowed$/);
  });

  test('a tier that allows self-approval lets the requester approve', () => {
    expect(
      approverProblem(tiers, approval({ tier: 'dev', requestedByPrincipal: 'local:a' }), 'local:a'),
    ).toBeUndefined();
  });
});

describe('the configuration refuses approver patterns no session could match', () => {
  test.each([
    'arn:aws:iam::111122223333:role/approvers/*',
    'arn:aws:iam::111122223333:role/team/Approver',
    'arn:aws:iam::*:role/Approver',
  ])('%s', (pattern) => {
    const bad = { ...config, tiers: { ...config.tiers, prod: { approval: 'always', approvers: [pattern] } } };
    expect(() => ConfigSchema.parse(bad)).toThrow(/a role ARN names one role, without a path or a wildcard/);
  });
});

test('a ticket belongs to the caller role, not its session', () => {
  expect(ticketOwnerOf(session('ServiceNow', 'task-1'))).toBe('arn:aws:sts::111122223333:assumed-role/ServiceNow');
  expect(ticketOwnerOf('arn:aws:iam::111122223333:user/ci')).toBe('arn:aws:iam::111122223333:user/ci');
  expect(ticketOwnerOf('local:alice')).toBe('local:alice');
});
