"""What a VolumeRemoval does: delete an unattached EBS volume once its snapshot is completed, and restore it on
delete (undo). The modules, by job: `operations` (the provider's operations), `remove` (checks and the hold before
DeleteVolume), `source` (the undo source: found, and fit), `take_over` (a removal whose volume is gone already),
`undo` (the restore), `stored` (what state records).

Creating the resource deletes the volume; deleting the resource (`pulumi destroy`) re-creates the volume from the
snapshot with its original size, type, performance, encryption (and KMS key), zone and tags. Guarded hard: only
`available` volumes, only with `confirm_delete_volume` equal to the volume id, only when the snapshot of that volume
completed and stays usable (not archived, not being archived, not restored from the archive for a while only).

The undo must work whatever happens around it:

- The snapshot outlives the undo: before DeleteVolume the removal holds it, with the restore record on it, and reads
  that back (see `holds`); every path of this provider that deletes or archives snapshots honours the hold.
- DeleteVolume is never retried blindly: after an ambiguous failure the volume is looked up (gone, or `deleting`: the
  delete went through). A create interrupted after DeleteVolume is finished by the next `up` from the record on the
  snapshot, instead of being refused for good.
- The undo restores exactly one volume, however often it runs: CreateVolume carries a client token derived from the
  removal, and the restored volume is tagged `pulumi-snapshot:undo-of` and looked for first (for when EC2 has
  forgotten the token). It waits until the volume is `available` (a just-created one may be missing from listings
  for a while), and only then releases the hold.
- An undo source archived since (by hand) cannot be restored from for 24-72 h: the undo starts a temporary tier
  restore and fails, saying so; the next `destroy` after it finished restores the volume.
"""
