"""Create-time storage policy: a pure check of a create request.

Rules (global from ``[storage]``, per project from ``policy_file``):
maximum volume size, maximum total size, allowed source types, volumes
created from images must be deleted on termination, forbidden device
types. The first violation is returned as a message naming the rule, the
value and the limit.
"""

import dataclasses
import json
from typing import Any, Dict, Mapping, Optional, Tuple

from novahooks_core.models import BlockDevice, CreateRequest


@dataclasses.dataclass(frozen=True)
class Rules:
    max_volume_gb: int = 0          # 0: no limit
    max_total_gb: int = 0           # 0: no limit
    allowed_source_types: Tuple[str, ...] = ()   # empty: any
    image_volumes_delete_on_termination: bool = False
    forbidden_device_types: Tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self != Rules()

    def merged(self, overrides: Mapping[str, Any]) -> 'Rules':
        """These rules with a project's overrides applied."""
        values: Dict[str, Any] = dataclasses.asdict(self)
        for key, value in overrides.items():
            if key not in values:
                raise ValueError('unknown storage policy rule %r' % key)
            values[key] = (tuple(value) if isinstance(values[key], tuple)
                           else type(values[key])(value))
        return Rules(**values)


def load_overrides(path: str) -> Dict[str, Dict[str, Any]]:
    """``{"projects": {"<project id>": {"max_volume_gb": 50, ...}}}``."""
    with open(path) as stream:
        data = json.load(stream)
    projects = data.get('projects', {}) if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        raise ValueError('%s: expected {"projects": {...}}' % path)
    return projects


def _to_volume(device: BlockDevice) -> bool:
    return device.destination_type == 'volume'


def violation(request: CreateRequest, rules: Rules) -> Optional[str]:
    """The first rule ``request`` breaks, as a message, or ``None``."""
    total = 0
    for index, device in enumerate(request.block_devices):
        where = 'block device %d' % index
        source = device.source_type or 'unknown'
        if (rules.allowed_source_types
                and source not in rules.allowed_source_types):
            return ('%s: source type %s is not allowed (allowed_source_'
                    'types: %s)' % (where, source,
                                    ', '.join(rules.allowed_source_types)))
        if (device.device_type
                and device.device_type in rules.forbidden_device_types):
            return ('%s: device type %s is forbidden (forbidden_device_'
                    'types)' % (where, device.device_type))
        if not _to_volume(device):
            continue
        size = device.volume_size or 0
        if rules.max_volume_gb and size > rules.max_volume_gb:
            return ('%s: volume size %d GB exceeds max_volume_gb %d'
                    % (where, size, rules.max_volume_gb))
        total += size
        if (rules.image_volumes_delete_on_termination
                and source == 'image'
                and not device.delete_on_termination):
            return ('%s: a volume created from an image must have '
                    'delete_on_termination=true '
                    '(image_volumes_delete_on_termination)' % where)
    count = max(request.max_count or 1, 1)
    if rules.max_total_gb and total * count > rules.max_total_gb:
        return ('volumes total %d GB (%d GB x %d instance(s)) exceeds '
                'max_total_gb %d' % (total * count, total, count,
                                      rules.max_total_gb))
    return None
