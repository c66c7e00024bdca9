// S3's size rules, in one place, for every write path: PutObject, multipart
// uploads, UploadPartCopy and CopyObject.
const MiB = 1024 * 1024
const GiB = 1024 * MiB

export const S3Limits = {
  /** every part but the last */
  minPart: 5 * MiB,
  maxPart: 5 * GiB,
  maxParts: 10_000,
  maxObject: 5 * 1024 * GiB,
  /** the largest object one PutObject or one CopyObject takes */
  maxSingle: 5 * GiB,
} as const
