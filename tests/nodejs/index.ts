// A user's TypeScript program: one snapshot of a volume, and (once imported with `pulumi import`) a snapshot taken
// outside Pulumi, declared as it is.
import * as pulumi from "@pulumi/pulumi";
import * as ebs from "@pulumi-ebs-snapshots/ebs-snapshots";

const config = new pulumi.Config();

const backup = new ebs.EbsSnapshot("db-backup", {
    volumeId: config.require("volumeId"),
    description: config.require("description"),
    tags: config.requireObject<Record<string, string>>("tags"),
    timeout: 120,
});

interface Kept {
    volumeId: string;
    description: string;
    tags: Record<string, string>;
}
const kept = config.getObject<Kept>("kept");
const keptSnapshot = kept ? new ebs.EbsSnapshot("kept", kept) : undefined;

export const snapshotId = backup.snapshotId;
export const tags = backup.tags;
export const keptSnapshotId = keptSnapshot?.snapshotId;
