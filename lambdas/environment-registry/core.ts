import { parseTags } from '../validate-input/core';
import type { RunContext } from '../validate-input/core';
import type { StepSummary } from '../component-graph/core';
import type { Environment } from '../../lib/records/environment';
import type { EnvironmentWriter } from '../../lib/records/environment-store';

export interface RegistryRequest {
  readonly action: 'register' | 'activate' | 'record-drift' | 'mark-destroyed';
  readonly runId: string;
  readonly input: Record<string, string | null | boolean>;
  readonly context: RunContext;
  /** For record-drift: the drift step's summary. */
  readonly result?: StepSummary | { status: 'SKIPPED' };
}

/** The registry steps of workflows: register a new environment, activate it, record drift, mark destroyed. */
export async function handleRegistry(
  req: RegistryRequest,
  registry: EnvironmentWriter,
  now = () => new Date().toISOString(),
): Promise<Environment | { dryRun: true; action: string; stack: string }> {
  const c = req.context;
  // A dry run changes nothing: the registry records what was done, and nothing was.
  if (c.dryRun) return { dryRun: true, action: req.action, stack: c.stack };
  switch (req.action) {
    case 'register': {
      const at = now();
      const tags = typeof req.input.tags === 'string' ? parseTags(req.input.tags) : undefined;
      return registry.register({
        stack: c.stack,
        tenant: c.tenant,
        account: c.account,
        environment: c.environment,
        region: c.region,
        tier: c.tier,
        vpcCidr: typeof req.input.vpc_cidr === 'string' ? req.input.vpc_cidr : undefined,
        status: 'onboarding',
        components: c.components,
        tags,
        ticketId: typeof req.input.ticketId === 'string' ? req.input.ticketId : undefined,
        runId: req.runId,
        createdAt: at,
        updatedAt: at,
      });
    }
    case 'activate':
      return registry.update(c.stack, { status: 'active', runId: req.runId });
    case 'mark-destroyed':
      return registry.markDestroyed(c.stack, req.runId);
    case 'record-drift': {
      const r = req.result;
      if (!r || r.status !== 'SUCCEEDED') throw new Error('record-drift needs the summary of a drift step that ran');
      return registry.update(c.stack, {
        lastDrift: {
          checkedAt: now(),
          runId: req.runId,
          drifted: [...r.drifted],
          add: r.add,
          change: r.change,
          destroy: r.destroy,
        },
      });
    }
    default:
      throw new Error(`unknown registry action ${JSON.stringify((req as { action?: unknown }).action)}`);
  }
}
