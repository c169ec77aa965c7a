import { eventsContract } from '@blockvault/testing';
import { MemoryEventBus } from './memory-bus.ts';

eventsContract('in-process', async () => new MemoryEventBus());
