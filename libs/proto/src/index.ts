export * from './gen/blockvault/v1/jobs.ts';
