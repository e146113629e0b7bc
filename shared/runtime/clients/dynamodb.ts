/** The DynamoDB document client, created once per Lambda environment, traced and counting consumed capacity. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tracer } from '../powertools';
import { countConsumedCapacity } from './consumed-capacity';

export const createDocumentClient = (client = new DynamoDBClient({})): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(tracer.captureAWSv3Client(countConsumedCapacity(client)), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });

let shared: DynamoDBDocumentClient | undefined;
export const documentClient = (): DynamoDBDocumentClient => {
  shared ??= createDocumentClient();
  return shared;
};
