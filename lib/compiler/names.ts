/** State names and result keys derived from step names: readable in the console, valid in JSONPath. */

/** "post-validation" → "Post validation"; a step's `title` wins. */
export function titleOf(step: { name: string; title?: string | undefined }): string {
  if (step.title) return step.title;
  const words = step.name.replace(/-/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "post-validation" → "post_validation": the key of a step's result under `$.results`. */
export function resultKey(stepName: string): string {
  return stepName.replace(/-/g, '_');
}

/** The JSONPath of a step's result. */
export function resultPath(stepName: string): string {
  return `$.results.${resultKey(stepName)}`;
}

/** Step Functions limits state names to 80 characters. */
export function stateName(text: string): string {
  return text.length <= 80 ? text : `${text.slice(0, 77)}...`;
}
