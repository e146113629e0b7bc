/**
 * Lambda wiring shared by every handler: Powertools context logging, a traced handler subsegment and metrics
 * flushing, as Powertools documents for manual instrumentation (middy 7 is ESM-only; these bundles are CJS).
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type * as z from 'zod';
import { exceptionFields } from '../observability/error-kind';
import { takeDynamoDbUsage } from './clients/consumed-capacity';
import { StepInputError } from './errors';
import { logger, metrics, tracer } from './powertools';
import { zodIssues } from './zod-issues';

/** Parses a step's input with its schema; a malformed payload is a bug upstream, reported with every issue. */
export const parseInput = <S extends z.ZodType>(schema: S, event: unknown, step: string): z.infer<S> => {
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new StepInputError(`${step} received an invalid input: ${issues.join('; ')}`, issues, {
      cause: parsed.error,
    });
  }
  return parsed.data;
};

/** This invocation's DynamoDB requests and the capacity units they consumed, as metrics. */
const addDynamoDbMetrics = (): void => {
  const usage = takeDynamoDbUsage();
  if (usage.requests === 0) return;
  metrics.addMetric('DynamoDbRequests', MetricUnit.Count, usage.requests);
  metrics.addMetric('DynamoDbReadUnits', MetricUnit.Count, usage.readUnits);
  metrics.addMetric('DynamoDbWriteUnits', MetricUnit.Count, usage.writeUnits);
};

export const lambdaHandler =
  <TResult>(fn: (event: unknown, context: Context) => Promise<TResult>) =>
  async (event: unknown, context: Context): Promise<TResult> => {
    logger.addContext(context);
    const segment = tracer.getSegment();
    const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'handler'}`);
    if (subsegment) tracer.setSegment(subsegment);
    tracer.annotateColdStart();
    tracer.addServiceNameAnnotation();
    try {
      return await fn(event, context);
    } catch (error) {
      tracer.addErrorAsMetadata(error as Error);
      logger.error('Handler failed', exceptionFields(error));
      throw error;
    } finally {
      subsegment?.close();
      if (segment) tracer.setSegment(segment);
      addDynamoDbMetrics();
      // Steps without metrics publish nothing (Powertools would warn on every invocation).
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
