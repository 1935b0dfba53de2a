"""The `ebs-snapshots` provider plugin: the front door for every Pulumi language (see `provider.py`)."""
