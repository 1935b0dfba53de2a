"""One operation's way to EC2, built once from its props and passed on (Terraform's
`conn := meta.(*conns.AWSClient).EC2Client`): the account selection, the account checked with STS to be allowed (and,
for an existing resource, to be the one state records), and the EC2 clients.

Built before anything is changed or concluded, so that a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.declarations import AccountSelection

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class Connection:
    """Where and as whom one operation acts. `ec2` is the process's client for the selection at the time it is asked
    for: after a long wait, ask again (the wait may have renewed the credentials)."""

    account: AccountSelection
    account_id: str

    @classmethod
    def to_create(cls, inputs: Mapping[str, Any]) -> Connection:
        """For a new resource: the credentials must act in an allowed account."""
        account = AccountSelection.from_props(inputs)
        return cls(account, clients.ensure_allowed_account(account))

    @classmethod
    def to_existing(cls, props: Mapping[str, Any], action: clients.Action, recorded: str | None) -> Connection:
        """For a resource in state: allowed, and acting in the account state records (`recorded`; None for state
        older than `account_id`: allowed is enough)."""
        account = AccountSelection.from_props(props)
        return cls(account, clients.ensure_recorded_account(account, recorded, action))

    @classmethod
    def to_read(cls, props: Mapping[str, Any], recorded: str | None, what: str) -> Connection:
        """For a refresh of `what`: as `to_existing`, and refused without a region."""
        account = AccountSelection.from_props(props)
        if not account.region:
            raise SnapshotProviderError(f"reading {what} needs a region: set region or aws:region")
        return cls(account, clients.ensure_recorded_account(account, recorded, "refresh"))

    @property
    def ec2(self) -> EC2Client:
        """The EC2 client (botocore's retries, paced)."""
        return cast("EC2Client", clients.client(self.account))

    @property
    def ec2_once(self) -> EC2Client:
        """The EC2 client that sends each request once: for requests that start something, never retried blindly."""
        return cast("EC2Client", clients.client(self.account, single_attempt=True))
