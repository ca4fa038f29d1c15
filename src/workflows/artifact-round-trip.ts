/**
 * `artifactRoundTrip`: the smallest end-to-end proof of the wiring. An activity writes an artifact to
 * MinIO and returns its reference; a second activity reads it back and checks its sha256.
 * `mlops check` runs it against the configured servers.
 */
import type { createActivities } from '../activities';
import type { ArtifactRef } from '../storage/refs';
import { mlopsActivities } from './activity-names';
import { storageActivity } from './options';

type Activities = ReturnType<typeof createActivities>;
const { writeProbeArtifact, verifyArtifact } = mlopsActivities<Activities>(storageActivity);

/** What the round trip proved. */
export interface RoundTripResult {
  artifact: ArtifactRef;
  verified: boolean;
  readBytes: number;
}

/** Writes `sizeBytes` of seeded bytes to MinIO, reads them back and verifies the digest. */
export async function artifactRoundTrip(input: { sizeBytes: number; seed: number }): Promise<RoundTripResult> {
  const artifact = await writeProbeArtifact(input);
  const check = await verifyArtifact(artifact);
  return { artifact, verified: check.sha256 === artifact.sha256, readBytes: check.size };
}
