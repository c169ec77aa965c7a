export { readerService, serveReader, READER_MESSAGE_LIMIT, type ReaderServer } from './server.ts';
export { RemoteIo } from './client.ts';
export { readerFor, RoutedIo } from './routed.ts';
