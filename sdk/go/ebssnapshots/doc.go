// Safe, reversible EBS snapshots from infrastructure code: EC2 CreateSnapshot and CreateSnapshots, waited for until completed, rolling series with retention, volume removal with undo, copies to another region or account.
package ebssnapshots
