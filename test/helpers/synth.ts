import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, FEATURE_FLAGS, synthWithinLimits } from '../../lib/app';
import type { TroposConfig } from '../../lib/config/schema';
import { extractStateMachines, ExtractedStateMachine } from '../../lib/local/definitions';
import { TroposStack } from '../../lib/stacks/tropos-stack';
import { Catalog } from '../../lib/workflow/catalog';
import { validateWorkflows } from '../../lib/workflow/load';
import { catalog as realCatalog, config as realConfig } from './fixtures';

export interface Synthesized {
  readonly stack: TroposStack;
  readonly template: Template;
  readonly machines: Map<string, ExtractedStateMachine>;
}

/** An app that does not bundle Lambda code: for tests of the definitions only. */
function appWithoutBundling(): App {
  return new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
}

function synthesized(stack: TroposStack, region: string): Synthesized {
  const template = Template.fromStack(stack);
  return { stack, template, machines: extractStateMachines(template.toJSON() as never, region) };
}

/** Synthesizes the stack for the given workflow texts (by name), with the real catalog and configuration. */
export function synthWorkflows(
  texts: Record<string, string>,
  options: { config?: TroposConfig; catalog?: Catalog } = {},
): Synthesized {
  const catalog = options.catalog ?? realCatalog;
  const config = options.config ?? realConfig;
  const workflows = validateWorkflows(
    Object.entries(texts).map(([name, text]) => ({ source: `workflows/${name}.yaml`, text })),
    catalog,
  );
  const stack = new TroposStack(appWithoutBundling(), 'Tropos', {
    config,
    catalog,
    workflows,
    env: { region: config.region },
  });
  return synthesized(stack, config.region);
}

let real: Synthesized | undefined;

/** The real app (workflows/, catalog/, tropos.config.yaml), bundled as `cdk synth` bundles it. Synthesized once per file. */
export function synthRealApp(): Synthesized {
  if (!real) {
    const { app, stack } = buildApp();
    synthWithinLimits(app, stack); // what `cdk synth` refuses, the tests refuse
    real = synthesized(stack, realConfig.region);
  }
  return real;
}

/** Every state of a definition, Parallel branches included, by name. */
export function allStates(definition: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const result = new Map<string, Record<string, unknown>>();
  const walk = (def: { States?: Record<string, Record<string, unknown>> }) => {
    for (const [name, state] of Object.entries(def.States ?? {})) {
      result.set(name, state);
      for (const branch of (state.Branches as object[] | undefined) ?? []) walk(branch as never);
      if (state.ItemProcessor) walk(state.ItemProcessor as never);
    }
  };
  walk(definition as never);
  return result;
}
