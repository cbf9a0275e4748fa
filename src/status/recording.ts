/**
 * The flight recorder: a status stream written as JSON lines (a versioned header, a full
 * snapshot, then deltas, a full snapshot again every so often), in rotated segment files bounded
 * by `maxBytes`; and the reader that indexes a recording and rebuilds the status of any moment.
 * The format is described in `docs/recording.md`. This file gathers its three parts: the format,
 * the writer and the reader.
 *
 * @module
 */

export {
  applyDelta,
  DEFAULT_RECORDING_BYTES,
  type Delta,
  deltaOf,
  type FlatContext,
  FULL_EVERY_DELTAS,
  FULL_EVERY_MS,
  MIN_RECORDING_BYTES,
  RECORDING_FORMAT,
  RECORDING_VERSION,
  RecordingError,
  RecordingVersionError,
  type RecState,
  redactState,
  SHARED_REPLAY_SOURCE,
  stateMatches,
  stateOf,
  statusOf,
} from "./recording_format.ts";
export {
  checkRecordOptions,
  listSegments,
  type Recorder,
  RecordingWriter,
  type RecordingWriterOptions,
  startRecording,
  type StartRecordingOptions,
} from "./recording_writer.ts";
export { openRecording, Recording, type RecordingDiff } from "./recording_reader.ts";
