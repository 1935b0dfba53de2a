"""Local EC2 emulator for this project's run command and tests (moto's server, extended).

Modules: `server` (the WSGI apps, the control API, `Ec2Emulator`), `strict` (the strict EC2 mode's settings and
clock), `models` (EBS and AMI behaviour), `responses` (request parsing for the actions the emulator answers itself),
`consistency` (listing and tag delays), `throttling` (token buckets), `accounts` (accounts, credentials, sessions),
`index` (lookups without scans), `exceptions`, `faults` (fault injection), `calls` (the call log), `world` (seeding,
export and readouts), `patch` (what is changed in moto, in one place).
"""

from emulator.accounts import DEFAULT_ACCOUNT_ID
from emulator.calls import Call
from emulator.faults import Faults
from emulator.server import Ec2Emulator
from emulator.strict import StrictSettings
from emulator.world import World

__all__ = ["DEFAULT_ACCOUNT_ID", "Call", "Ec2Emulator", "Faults", "StrictSettings", "World"]
