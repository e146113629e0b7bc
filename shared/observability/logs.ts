/**
 * The agent's log lines through the one Powertools Logger: a trace record per model call and per tool call (with
 * its metrics), the `exception` fields of an error line, and prompts and completions (DEBUG, LOG_PROMPTS only).
 */
import type { ContentBlock, ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { logger } from '../runtime/powertools';
import { addModelCallMetrics, addToolCallMetrics } from './metrics';
import {
  type ModelCall,
  modelCallLogRecord,
  type SessionKeys,
  type ToolCall,
  toolCallLogRecord,
} from './trace-records';

/** A model call's trace record (INFO) and its token and cost metrics. */
export const logModelCall = (session: SessionKeys, call: ModelCall): void => {
  logger.info(modelCallLogRecord(session, call));
  addModelCallMetrics(call);
};

/** A tool call's trace record (INFO, WARN when it did not succeed) and its latency and error metrics. */
export const logToolCall = (session: SessionKeys, call: ToolCall): void => {
  const record = toolCallLogRecord(session, call);
  if (call.outcome === 'succeeded') logger.info(record);
  else logger.warn(record);
  addToolCallMetrics(call);
};

/**
 * The request a model is sent and what it answered, at DEBUG and only with LOG_PROMPTS on (off by default on every
 * stage, local included); redacted like every line (observability/redact).
 */
export const logPromptExchange = (
  enabled: boolean,
  call: { turn: number; modelId: string },
  request: Pick<ConverseCommandInput, 'system' | 'messages'>,
  answer: ContentBlock[] | undefined,
): void => {
  if (!enabled) return;
  logger.debug('Model prompt', { ...call, system: request.system, messages: request.messages });
  if (answer) logger.debug('Model completion', { ...call, content: answer });
};
