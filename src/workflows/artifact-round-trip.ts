/**
 * `artifactRoundTrip`: the smallest end-to-end proof of the wiring. An activity writes an artifact to
 * MinIO and returns its reference; a second activity reads it back and checks its sha256.
 * `mlops check` runs it against the configured servers.
 */
import type { createActivities } from '../activities';
import type { RoundTripInput, RoundTripResult } from '../contracts/workflows';
import { mlopsActivities } from './activity-names';
import { storageActivity } from './options';

type Activities = ReturnType<typeof createActivities>;
const { writeProbeArtifact, verifyArtifact } = mlopsActivities<Activities>(storageActivity);

export type { RoundTripResult };

/** Writes `sizeBytes` of seeded bytes to MinIO, reads them back and verifies the digest. */
export async function artifactRoundTrip(input: RoundTripInput): Promise<RoundTripResult> {
  const artifact = await writeProbeArtifact(input);
  const check = await verifyArtifact(artifact);
  return { artifact, verified: check.sha256 === artifact.sha256, readBytes: check.size };
}
