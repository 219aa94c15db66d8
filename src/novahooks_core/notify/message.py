"""One notification as the listener received it (:class:`Message`), read
once into a typed record: Nova's or Neutron's (its :class:`Family`) is
decided here, from its event type, and nowhere else; and what one
listener did (:class:`Stats`)."""

import collections
import dataclasses
import enum
import hashlib
import json
import threading
from typing import Any, Dict, Mapping, Optional

from novahooks_core.containment import redact
from novahooks_core.normalize import as_str
from novahooks_core.notify import neutron


class Family(str, enum.Enum):
    """Who sent a notification."""

    NOVA = 'nova'  # versioned notifications (:mod:`.mapping`)
    NEUTRON = 'neutron'  # floating IPs and ports (:mod:`.neutron`)


#: What is kept of a notification's request context (never its token).
_CONTEXT_KEPT = ('request_id', 'project_id', 'user_id')
#: Payload fields never kept: the keypairs' public keys (the SSH key a
#: hook call counts as a secret; the mapping reads none of it).
_PAYLOAD_DROPPED = ('keypairs',)


class Stats:
    """What one listener did (thread-safe counters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Dict[str, int] = collections.Counter()

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def add_all(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            self.counts.update(counts)

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self.counts)


@dataclasses.dataclass(frozen=True)
class Message:
    """One notification as received: what is kept of it to retry or replay
    it (never the context's token)."""

    event_type: str
    publisher_id: str
    payload: Any
    message_id: str = ''
    timestamp: Optional[str] = None
    priority: str = 'info'
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Nova's or Neutron's, decided once from ``event_type``.
    family: Family = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'family', (
            Family.NEUTRON if neutron.kind_of(self.event_type)
            else Family.NOVA))

    @classmethod
    def received(cls, ctxt: Any, publisher_id: Any, event_type: Any,
                 payload: Any, metadata: Any,
                 priority: str = 'info') -> 'Message':
        metadata = metadata if isinstance(metadata, Mapping) else {}
        ctxt = ctxt if isinstance(ctxt, Mapping) else {}
        return cls(str(event_type), str(publisher_id), payload,
                   str(metadata.get('message_id') or ''),
                   as_str(metadata.get('timestamp')), priority,
                   {k: ctxt.get(k) for k in _CONTEXT_KEPT if ctxt.get(k)})

    @property
    def key(self) -> str:
        """Its message id, or a digest of what is kept of it when it has
        none (the same for the message and its parked copy)."""
        if self.message_id:
            return self.message_id
        text = json.dumps(self.record(), sort_keys=True, default=str)
        return 'sha1:' + hashlib.sha1(text.encode()).hexdigest()

    def record(self) -> Dict[str, Any]:
        """What is kept: a payload that is not a versioned object (a poison
        message, whatever it holds) is not; of a Nova payload, neither the
        keypairs nor the secret-looking metadata values."""
        payload = self.payload
        fields = (payload.get('nova_object.data')
                  if isinstance(payload, Mapping) else None)
        if self.family is Family.NEUTRON:
            payload = neutron.kept(self.event_type, payload)
        elif not isinstance(fields, Mapping):
            payload = None
        else:
            kept = {k: v for k, v in fields.items()
                    if k not in _PAYLOAD_DROPPED}
            if isinstance(kept.get('metadata'), Mapping):
                kept['metadata'] = redact.mask_mapping(kept['metadata'])
            payload = dict(payload)
            payload['nova_object.data'] = kept
        return {'event_type': self.event_type,
                'publisher_id': self.publisher_id, 'payload': payload,
                'message_id': self.message_id, 'timestamp': self.timestamp,
                'priority': self.priority, 'context': dict(self.context)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> 'Message':
        return cls(str(record['event_type']), str(record['publisher_id']),
                   record['payload'], str(record.get('message_id') or ''),
                   record.get('timestamp'),
                   str(record.get('priority') or 'info'),
                   dict(record.get('context') or {}))

    @property
    def metadata(self) -> Dict[str, Any]:
        """oslo.messaging's metadata, its id the key (a redelivered copy
        of a message without id is then a duplicate too)."""
        return {'message_id': self.key, 'timestamp': self.timestamp}


def _instance_of(message: Message) -> Optional[str]:
    """The instance a Nova notification is about (None for Neutron's: their
    order is per floating IP and port, and their deliveries are whole
    states)."""
    if message.family is Family.NEUTRON:
        return None
    payload = message.payload
    fields = (payload.get('nova_object.data')
              if isinstance(payload, Mapping) else None)
    return as_str(fields.get('uuid')) if isinstance(fields, Mapping) \
        else None


__all__ = ['Family', 'Message', 'Stats']
