/** The orchestration benchmark's workflows: ours, and the bare reference beside them on the same worker. */
export * from '../workflows';
export { bareRun } from './bare-workflow';
