// Safe, reversible EBS snapshots from infrastructure code.
package ebssnapshots
