/** `sovereign-agent alerts`: what the stage published to its SNS topics (cost alerts), from the local SNS's data. */
import type { PublishedMessage } from '../sns/service';

export const formatAlert = (m: PublishedMessage): string =>
  [
    `${m.publishedAt}  ${m.subject ?? '(no subject)'}`,
    ...m.message.split('\n').map((line) => `    ${line}`),
  ].join('\n');
