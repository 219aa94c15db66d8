"""What the order guard (:mod:`.guard`) and Neutron's notifications
(:mod:`.neutron`) share: a verdict on a notification, and a floating IP's
or port's fact. Pure data: both modules import this one, never each
other."""

import dataclasses
import datetime
import enum
from typing import Optional

#: Neutron's ``device_owner`` prefix of the ports Nova's instances hold.
COMPUTE_OWNER = 'compute:'


class Verdict(str, enum.Enum):
    """What a notification may do to one plugin's state."""

    RUN = 'run'
    STALE = 'stale'
    DUPLICATE = 'duplicate'
    DELETED = 'deleted'


@dataclasses.dataclass(frozen=True)
class Fact:
    """A floating IP or a port as one Neutron notification tells it."""

    kind: str
    id: str
    revision: Optional[int]
    updated_at: Optional[datetime.datetime]
    deleted: bool = False
    #: A floating IP's address, and its association (None: none).
    address: Optional[str] = None
    port_id: Optional[str] = None
    fixed_ip: Optional[str] = None
    #: A port's device (for a floating IP: its port's, from port_details).
    device_id: Optional[str] = None
    device_owner: Optional[str] = None

    @property
    def instance(self) -> Optional[str]:
        """The Nova instance whose port this is (or holds the floating IP)."""
        if self.device_id and (self.device_owner or '').startswith(
                COMPUTE_OWNER):
            return self.device_id
        return None


__all__ = ['COMPUTE_OWNER', 'Fact', 'Verdict']
