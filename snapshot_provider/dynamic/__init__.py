"""The dynamic-provider front door's shared parts: the program-side resource base and the SDK host's adaptations.
The four resource modules (`snapshot_provider.ebs_snapshot`, ...) stay where they are: their paths are in state."""
