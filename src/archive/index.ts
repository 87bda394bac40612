export { archiveLedger, readArchiveCheckpointText, type ArchiveOptions, type ArchiveResult } from './archive.js';
export { scheduleAutoArchive, startAutoArchive } from './auto.js';
export { readArchiveConfig, DEFAULT_MAX_LAG, type ArchiveConfig } from './config.js';
export { archiveBehindProblems } from './lag.js';
export { openTarget } from './open-target.js';
export { isArchiveLocation, parseArchiveLocation, type ArchiveTarget } from './target.js';
export { parseRetention, parseLockMode, describeRetention, DEFAULT_MODE, DEFAULT_RETAIN, type Retention } from './retention.js';
export { verifyArchive, type ArchiveVerifyReport } from './verify-archive.js';
