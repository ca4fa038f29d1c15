/** Hyperparameters are checked before any work: a bad one fails with MlopsInvalidInput naming it. */
import { FailureType, isMlopsError } from '../../../../src/errors';
import { trainModel, type TrainerName } from '../../../../src/ml/trainers';
import type { DatasetSchema } from '../../../../src/ml/types';
import { seattleSchema, seattleWeather } from '../../../helpers/seattle-weather';

const train = seattleWeather();

async function failure(name: TrainerName, params: Record<string, unknown>, schema: DatasetSchema = seattleSchema) {
  const err = await trainModel(name, { train, schema, params, seed: 0 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMlopsError(err) && err.type).toBe(FailureType.InvalidInput);
  return err as Error & { details?: Record<string, unknown> };
}

it.each([
  ['logistic-regression', { C: 0 }, 'C'],
  ['logistic-regression', { C: 'strong' }, 'C'],
  ['logistic-regression', { maxIter: 2.5 }, 'maxIter'],
  ['gbdt', { learningRate: -0.1 }, 'learningRate'],
  ['gbdt', { maxLeafNodes: 1 }, 'maxLeafNodes'],
  ['gbdt', { maxBins: 256 }, 'maxBins'],
  ['gbdt', { earlyStopping: 'sometimes' }, 'earlyStopping'],
  ['gbdt', { validationFraction: 1 }, 'validationFraction'],
] as const)('%s rejects %j naming "%s"', async (name, params, param) => {
  const err = await failure(name, params);
  expect(err.message).toContain(`Invalid parameter "${param}" for trainer ${name}`);
  expect(err.details?.param).toBe(param);
});

it('an unknown parameter name is rejected with the list of known ones (a typo does not pass silently)', async () => {
  const err = await failure('gbdt', { learning_rate: 0.1 });
  expect(err.message).toContain('Unknown parameter "learning_rate" for trainer gbdt');
  expect(err.message).toContain('learningRate');
});

it('logistic-regression refuses a regression task', async () => {
  const err = await failure('logistic-regression', {}, { ...seattleSchema, target: 'wind', features: ['temp_max'], task: 'regression' });
  expect(err.message).toMatch(/logistic-regression is a classifier/);
});

it('an unknown trainer name is rejected', async () => {
  await expect(trainModel('svm' as TrainerName, { train, schema: seattleSchema, params: {}, seed: 0 })).rejects.toThrow(
    /Unknown trainer "svm"/,
  );
});

it('a target with a single class cannot be learned', async () => {
  const one = { rowCount: 3, columns: { x: Float64Array.of(1, 2, 3), y: ['a', 'a', 'a'] } };
  const schema: DatasetSchema = {
    columns: [
      { name: 'x', type: 'numeric' },
      { name: 'y', type: 'categorical' },
    ],
    target: 'y',
    features: ['x'],
    task: 'classification',
  };
  await expect(trainModel('gbdt', { train: one, schema, params: {}, seed: 0 })).rejects.toThrow(/has 1 class\(es\)/);
});
