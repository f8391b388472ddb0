/**
 * Scripted answers for the review-labeling job (jobs/label-dataset-schema.yaml), shared by the in-process and
 * the distributed tests so that both engines are held to the same outcome.
 */
import type { ChatRequestSummary } from './server.js';

export const RETRY = 'That answer could not be used';

/**
 * Scripted per review: prose around the JSON, a fenced block, a bare label in another case, an invalid label that
 * is fixed when asked again (the retry quotes it), and one that stays invalid.
 */
export function labeler(s: ChatRequestSummary): string {
  const text = s.lastUserText;
  if (text.startsWith(RETRY)) {
    if (text.includes('"furious"')) return 'Sorry! {"label": "negative"}';
    return '{"label": "still livid"}';
  }
  const id = /Review (r\d+)/.exec(text)?.[1];
  switch (id) {
    case 'r001':
      return 'Sure. Here is the label:\n```json\n{"label": "positive"}\n```\nHope that helps.';
    case 'r002':
      return 'I would say {"label": "mixed"} because it praises and complains.';
    case 'r003':
      return '{"label": "furious"}';
    case 'r004':
      return 'Positive.';
    case 'r006':
      return '{"label": "livid"}';
    case 'r007':
      return '{"label":"mixed"}';
    default:
      return '{"label": "positive"}';
  }
}

/** What `labeler` leads to on the 8 reviews: label counts, and the one that stays invalid. */
export const LABELER_COUNTS = { positive: 4, negative: 1, mixed: 2 };
