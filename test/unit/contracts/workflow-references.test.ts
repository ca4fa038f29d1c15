/** The typed workflow references clients start runs with: each names a workflow our worker registers. */
import * as workflows from '../../../src/workflows';
import { artifactRoundTripWorkflow, modelMonitorWorkflow, pipelineRunWorkflow, rolloutRunWorkflow } from '../../../src/contracts';

describe('typed workflow references', () => {
  it.each([
    [pipelineRunWorkflow, 'pipelineRun'],
    [modelMonitorWorkflow, 'modelMonitor'],
    [rolloutRunWorkflow, 'rolloutRun'],
    [artifactRoundTripWorkflow, 'artifactRoundTrip'],
  ])('%p starts the workflow exported as %s', (reference, name) => {
    expect(reference.name).toBe(name);
    expect(typeof (workflows as Record<string, unknown>)[name]).toBe('function');
    expect((workflows as Record<string, unknown>)[name]).not.toBe(reference);
  });

  it('says to start the workflow through a client when called by mistake', () => {
    expect(() => pipelineRunWorkflow({} as never)).toThrow(
      'pipelineRun is a reference to the workflow, not the workflow: start it with a Temporal client',
    );
  });
});
